//go:build !race

package reliability

// raceBuild is set when the tests run under the race detector, whose
// shadow memory makes RSS comparisons between two servers meaningless.
const raceBuild = false
