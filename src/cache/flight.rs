//! Single-flight: concurrent callers that need the same work done share one execution.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, ErrorKind, Result};

struct Flight<T> {
    result: Mutex<Option<Result<T>>>,
    done: Condvar,
}

/// Why a flight runs, so a caller can tell whether its result is the one it waits for: an
/// unknown kid waits only on a refetch made for that kid, never on another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A fetch of the whole set (cold start, forced, scheduled or background refresh).
    Set,
    /// The refetch an unknown kid claimed.
    Kid(String),
}

/// What a caller does about the flight in flight (if any), decided under the flight lock.
pub(crate) enum Decision<T> {
    /// Answer without any flight.
    Answer(T),
    /// Wait for the flight in flight (only when there is one).
    Join,
    /// Run the work (only when no flight is in flight).
    Lead(Purpose),
}

/// How a call through [`SingleFlight::run_with`] ended.
pub(crate) enum Ran<T> {
    Answered(T),
    Joined(Result<T>),
    Led(Result<T>),
}

/// At most one execution in flight; callers arriving meanwhile wait for its result.
pub(crate) struct SingleFlight<T> {
    inflight: Mutex<Option<(Arc<Flight<T>>, Purpose)>>,
}

/// Completes a flight with an internal error if its leader unwinds, so followers never hang.
struct Leader<'a, T: Clone> {
    owner: &'a SingleFlight<T>,
    flight: Arc<Flight<T>>,
    finished: bool,
}

impl<T: Clone> Leader<'_, T> {
    fn publish(&mut self, result: Result<T>) {
        *self.owner.inflight.lock() = None;
        *self.flight.result.lock() = Some(result);
        self.flight.done.notify_all();
        self.finished = true;
    }
}

impl<T: Clone> Drop for Leader<'_, T> {
    fn drop(&mut self) {
        if !self.finished {
            self.publish(Err(Error::new(
                ErrorKind::Internal,
                "the fetch this call waited for failed unexpectedly",
            )));
        }
    }
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            inflight: Mutex::new(None),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Joins the execution in flight, or — when none is — returns `precheck()` if it has an
    /// answer (checked under the same lock, so a result published just before is never
    /// missed), or runs `work` as the leader.
    pub fn run(
        &self,
        precheck: impl FnOnce() -> Option<T>,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let ran = self.run_with(
            |running| match running {
                Some(_) => Decision::Join,
                None => precheck().map_or(Decision::Lead(Purpose::Set), Decision::Answer),
            },
            work,
        );
        match ran {
            Ran::Answered(answer) => Ok(answer),
            Ran::Joined(result) | Ran::Led(result) => result,
        }
    }

    /// The purpose of the flight in flight, if any.
    pub fn running(&self) -> Option<Purpose> {
        self.inflight
            .lock()
            .as_ref()
            .map(|(_, purpose)| purpose.clone())
    }

    /// The general form: `decide` sees the purpose of the flight in flight (None: there is
    /// none) under the flight lock, so what it checks or claims cannot race with a flight
    /// starting or ending.
    pub fn run_with(
        &self,
        decide: impl FnOnce(Option<&Purpose>) -> Decision<T>,
        work: impl FnOnce() -> Result<T>,
    ) -> Ran<T> {
        let flight = {
            let mut inflight = self.inflight.lock();
            let running = inflight
                .as_ref()
                .map(|(flight, purpose)| (flight.clone(), purpose));
            match (decide(running.as_ref().map(|r| r.1)), running) {
                (Decision::Answer(answer), _) => return Ran::Answered(answer),
                (Decision::Join, Some((flight, _))) => {
                    drop(inflight);
                    return Ran::Joined(Self::wait(&flight));
                }
                (Decision::Lead(purpose), None) => {
                    let flight = Arc::new(Flight {
                        result: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    *inflight = Some((flight.clone(), purpose));
                    flight
                }
                (Decision::Join, None) | (Decision::Lead(_), Some(_)) => {
                    return Ran::Joined(Err(Error::new(
                        ErrorKind::Internal,
                        "single-flight misuse: joined nothing or led twice",
                    )));
                }
            }
        };
        let mut leader = Leader {
            owner: self,
            flight,
            finished: false,
        };
        let result = work();
        leader.publish(result.clone());
        Ran::Led(result)
    }

    fn wait(flight: &Flight<T>) -> Result<T> {
        let mut result = flight.result.lock();
        while result.is_none() {
            flight.done.wait(&mut result);
        }
        result
            .clone()
            .unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "flight lost")))
    }
}
