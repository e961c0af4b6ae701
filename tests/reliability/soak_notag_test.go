//go:build !soak

package reliability

// soakTagged is true when the tests are built with -tags soak.
const soakTagged = false
