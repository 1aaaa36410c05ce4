//! The `birch` binary's allocator: mimalloc, except for large blocks, which get a mapping of
//! their own from the kernel (as glibc's malloc does above its mmap threshold).
//!
//! Why: the kernel gives a new mapping's pages on first touch, zeroed, so a large block costs
//! memory only for what is written into it, and it goes back to the system the moment it is
//! freed. mimalloc serves large blocks from its arenas instead and clears a zeroed block by
//! hand when the memory was used before, which makes every page of it resident. sled
//! allocates about 21 MiB of zeroed blocks when a store opens (metric histograms it never
//! writes with its `no_metrics` feature, and its page table's root) and keeps them for the
//! life of the process: with mimalloc alone a 10k-user server sat at 17 MiB of anonymous
//! memory idle, 6 MiB with glibc's malloc (docs/performance.md, "Memory").
//!
//! A block is mapped when its size is at least [`MAPPED_MIN`] and its alignment at most a
//! page; the choice depends only on the layout, which the caller hands back unchanged when it
//! frees or grows the block, so every block returns to the allocator it came from.

use std::alloc::{GlobalAlloc, Layout};

/// The smallest block that gets a mapping of its own (256 KiB): the blocks behind the idle
/// memory above are 512 KiB and larger, while the small and mid-sized blocks of a request stay
/// with mimalloc (a mapping costs two system calls and a fault per page touched).
pub const MAPPED_MIN: usize = 256 << 10;

/// The largest alignment a mapping guarantees (its page size).
const MAPPED_ALIGN: usize = 4096;

/// mimalloc, with blocks of at least [`MAPPED_MIN`] bytes mapped on their own.
#[derive(Debug, Default, Clone, Copy)]
pub struct Allocator;

/// Whether a block of this layout gets its own mapping.
fn mapped(layout: &Layout) -> bool {
    cfg!(target_os = "linux") && layout.size() >= MAPPED_MIN && layout.align() <= MAPPED_ALIGN
}

#[cfg(target_os = "linux")]
mod os {
    use rustix::mm::{mmap_anonymous, mremap, munmap, MapFlags, MremapFlags, ProtFlags};
    use std::ffi::c_void;

    /// A fresh private mapping of `size` bytes, zeroed; null if the kernel refuses.
    pub(super) fn map(size: usize) -> *mut u8 {
        // SAFETY: a new anonymous mapping at an address the kernel chooses; nothing else is
        // affected.
        match unsafe {
            mmap_anonymous(std::ptr::null_mut(), size, ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE)
        } {
            Ok(p) => p.cast(),
            Err(_) => std::ptr::null_mut(),
        }
    }

    /// Unmaps a block [`map`] or [`remap`] returned.
    ///
    /// # Safety
    /// `ptr` and `size` describe one whole block from [`map`] or [`remap`], not used after.
    pub(super) unsafe fn unmap(ptr: *mut u8, size: usize) {
        // SAFETY: the caller's guarantee. A failure (only for arguments that cannot come from
        // here) leaves the mapping in place: a leak, not a fault.
        let _ = unsafe { munmap(ptr.cast::<c_void>(), size) };
    }

    /// Grows or shrinks a block from [`map`], moving it if needed; null if the kernel
    /// refuses (the old block is then untouched).
    ///
    /// # Safety
    /// `ptr` and `old` describe one whole block from [`map`] or [`remap`].
    pub(super) unsafe fn remap(ptr: *mut u8, old: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller's guarantee; MAYMOVE lets the kernel pick a new address.
        match unsafe { mremap(ptr.cast::<c_void>(), old, new, MremapFlags::MAYMOVE) } {
            Ok(p) => p.cast(),
            Err(_) => std::ptr::null_mut(),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    // Never called: `mapped` is false off Linux.
    pub(super) fn map(_: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
    pub(super) unsafe fn unmap(_: *mut u8, _: usize) {}
    pub(super) unsafe fn remap(_: *mut u8, _: usize, _: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
}

// SAFETY: every block comes from exactly one of mimalloc and the kernel, chosen by `mapped`
// from its layout, and goes back to the same one: GlobalAlloc's callers pass the layout the
// block was allocated (or last reallocated) with. Mappings are page aligned, which `mapped`
// requires of the layout, and zeroed, as `alloc_zeroed` needs.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            os::map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            os::map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(&layout) {
            // SAFETY: a block of this layout was mapped by `alloc` / `realloc`.
            unsafe { os::unmap(ptr, layout.size()) }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc::realloc's contract: `new_size` rounded up to the alignment does
        // not overflow, so this is a valid layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (mapped(&layout), mapped(&new)) {
            // SAFETY: forwarded with the caller's guarantees.
            (false, false) => unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) },
            // SAFETY: a mapped block of `layout.size()` bytes.
            (true, true) => unsafe { os::remap(ptr, layout.size(), new_size) },
            _ => {
                // SAFETY: `new` is a valid non-zero layout (realloc's contract).
                let to = unsafe { self.alloc(new) };
                if !to.is_null() {
                    // SAFETY: both blocks are live, distinct, and at least this long.
                    unsafe { std::ptr::copy_nonoverlapping(ptr, to, layout.size().min(new_size)) };
                    // SAFETY: the old block, with its layout, not used again.
                    unsafe { self.dealloc(ptr, layout) };
                }
                to
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn large_blocks_are_mapped_and_small_ones_are_not() {
        assert!(!mapped(&layout(MAPPED_MIN - 1, 8)));
        assert_eq!(mapped(&layout(MAPPED_MIN, 8)), cfg!(target_os = "linux"));
        // sled's log buffers ask for 8 KiB alignment: mimalloc keeps them.
        assert!(!mapped(&layout(512 << 10, 8192)));
    }

    #[test]
    fn zeroed_blocks_are_zero_and_survive_growing_and_shrinking_across_the_threshold() {
        let a = Allocator;
        for (start, grown, shrunk) in [
            (1024, MAPPED_MIN * 2, 100),              // small → mapped → small
            (MAPPED_MIN, MAPPED_MIN * 8, MAPPED_MIN), // mapped throughout (mremap)
            (MAPPED_MIN * 4, 4096, MAPPED_MIN * 3),   // mapped → small → mapped
        ] {
            let l = layout(start, 16);
            // SAFETY (test): non-zero layouts; every block is freed with its current layout.
            unsafe {
                let p = a.alloc_zeroed(l);
                assert!(!p.is_null());
                assert!(std::slice::from_raw_parts(p, start).iter().all(|&b| b == 0));
                for i in 0..start {
                    *p.add(i) = (i % 251) as u8;
                }
                let q = a.realloc(p, l, grown);
                assert!(!q.is_null());
                let kept = start.min(grown);
                assert!((0..kept).all(|i| *q.add(i) == (i % 251) as u8));
                if grown > start {
                    // The grown part is writable.
                    *q.add(grown - 1) = 7;
                }
                let r = a.realloc(q, layout(grown, 16), shrunk);
                assert!(!r.is_null());
                assert!((0..kept.min(shrunk)).all(|i| *r.add(i) == (i % 251) as u8));
                a.dealloc(r, layout(shrunk, 16));
            }
        }
    }

    #[test]
    fn a_large_zeroed_block_costs_no_memory_until_written() {
        if !cfg!(target_os = "linux") {
            return;
        }
        // Resident pages of [p, p + len) from /proc/self/pagemap (bit 63: present), which
        // other threads' allocations cannot disturb.
        fn resident(p: *const u8, len: usize) -> usize {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = std::fs::File::open("/proc/self/pagemap").unwrap();
            f.seek(SeekFrom::Start((p as u64 / 4096) * 8)).unwrap();
            let mut buf = vec![0u8; len / 4096 * 8];
            f.read_exact(&mut buf).unwrap();
            buf.chunks_exact(8).filter(|e| u64::from_le_bytes((*e).try_into().unwrap()) >> 63 == 1).count()
        }
        let a = Allocator;
        let size = 16 << 20;
        // SAFETY (test): a non-zero layout, freed with the same layout; writes stay inside.
        unsafe {
            let p = a.alloc_zeroed(layout(size, 8));
            assert!(!p.is_null());
            assert_eq!(p as usize % 4096, 0);
            assert_eq!(resident(p, size), 0, "nothing written, nothing resident");
            *p.add(5 * 4096) = 1;
            assert_eq!(resident(p, size), 1, "one page written, one resident");
            a.dealloc(p, layout(size, 8));
        }
    }
}
