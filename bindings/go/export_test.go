package jwks

// ForgottenFreed is how many clients their cleanup has freed so far (tests only).
func ForgottenFreed() int64 { return forgottenFreed.Load() }
