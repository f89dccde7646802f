package sdk

// WithStdout is withStdout, for the external tests.
var WithStdout = withStdout
