//! The counting global allocator of the zero-allocation tests (`tests/zero_alloc*.rs` include this file by
//! `#[path]`), and the allocation-free response counter their clients use. Each including binary holds one test:
//! the allocator counts every thread, so nothing else may run there.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s guarantees
// hold; counting is a side effect on an atomic and never touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // ORDERING: Relaxed: a statistic, read after the client threads' work is joined by I/O round trips.
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's (non-zero-size layout).
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // ORDERING: Relaxed, as in `alloc`.
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // ORDERING: Relaxed, as in `alloc`.
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by this allocator (i.e. by System) with `layout`, per the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from System via this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (alloc, alloc_zeroed, realloc) by every thread of this process so far.
pub fn allocations() -> usize {
    // ORDERING: Relaxed, as in `alloc`.
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Counts complete responses (head + Content-Length body) at the front of `b`, without allocating.
pub fn complete_responses(mut b: &[u8]) -> usize {
    let mut count = 0;
    while let Some(head_end) = b.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = &b[..head_end];
        let key = b"Content-Length: ";
        let at = head.windows(key.len()).position(|w| w == key).expect("Content-Length") + key.len();
        let body: usize =
            head[at..].iter().take_while(|c| c.is_ascii_digit()).fold(0, |n, d| n * 10 + (d - b'0') as usize);
        let total = head_end + 4 + body;
        if b.len() < total {
            break;
        }
        count += 1;
        b = &b[total..];
    }
    count
}
