//go:build !linux

package sdk

// releaseFilePages does nothing outside Linux.
func releaseFilePages() {}
