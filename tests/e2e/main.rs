//! End-to-end tests through the real parts: the release `sigbox` binary, real
//! wasm modules compiled from guest-signatures/, real kernel events. Build
//! first with `make`; `make test` does both.

mod hotswap;
mod inspect;
mod live;
mod replay;
mod sandbox;
