//go:build race

package jwks_test

// Under the race detector, RSS grows with its own records of freed memory (TestForgottenClientsAreFreed).
const raceDetector = true
