//go:build !race

package jwks_test

const raceDetector = false
