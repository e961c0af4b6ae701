module github.com/upoll/upoll/bench

go 1.26.0

replace github.com/upoll/upoll => ../

require (
	github.com/cloudwego/netpoll v0.7.2
	github.com/valyala/fasthttp v1.77.0
)

require (
	github.com/bytedance/gopkg v0.1.1 // indirect
	github.com/cloudwego/gopkg v0.1.4 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/molecule-man/go-brrr v1.3.0 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
)
