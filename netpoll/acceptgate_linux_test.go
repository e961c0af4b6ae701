package netpoll

// Under io_uring the accept gate is also tested with multishot accept,
// whose connections the kernel accepts ahead of the acceptor.
func init() {
	gateExtraCases = func(b Backend, opts []Option) []gateCase {
		if b != BackendUring {
			return nil
		}
		return []gateCase{{name: "uring-accept", env: uringAcceptEnv, val: "1", opts: opts}}
	}
}
