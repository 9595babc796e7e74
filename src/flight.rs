//! Single-flight: concurrent callers that need the same work done share one execution.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, ErrorKind, Result};

struct Flight<T> {
    result: Mutex<Option<Result<T>>>,
    done: Condvar,
}

/// At most one execution in flight; callers arriving meanwhile wait for its result.
pub(crate) struct SingleFlight<T> {
    inflight: Mutex<Option<Arc<Flight<T>>>>,
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
        let (flight, leader) = {
            let mut inflight = self.inflight.lock();
            match inflight.as_ref() {
                Some(flight) => (flight.clone(), false),
                None => {
                    if let Some(answer) = precheck() {
                        return Ok(answer);
                    }
                    let flight = Arc::new(Flight {
                        result: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    *inflight = Some(flight.clone());
                    (flight, true)
                }
            }
        };
        if !leader {
            return Self::wait(&flight);
        }
        let mut leader = Leader {
            owner: self,
            flight,
            finished: false,
        };
        let result = work();
        leader.publish(result.clone());
        result
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
