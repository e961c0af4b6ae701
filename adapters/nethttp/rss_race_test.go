//go:build race

package nethttp

// raceBuild is set when the tests run under the race detector, whose
// shadow memory makes RSS comparisons between two servers meaningless.
const raceBuild = true
