package uring_test

import (
	"fmt"
	"runtime"
	"time"

	"github.com/upoll/upoll/internal/uring"
)

func Example() {
	if err := uring.Available(); err != nil {
		fmt.Println("io_uring unavailable")
		return
	}
	runtime.LockOSThread() // a single issuer submits from one thread
	defer runtime.UnlockOSThread()
	r, err := uring.New(8, 0, uring.SetupSingleIssuer|uring.SetupDeferTaskrun)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	r.SQE().PrepNop(42)
	r.SubmitAndWait(1, time.Second)
	var cqes [1]uring.CQE
	if r.Reap(cqes[:]) == 1 {
		fmt.Println(cqes[0].UserData, cqes[0].Res)
	}
	// Output: 42 0
}
