//! The pooling allocator's instances, shared out among components.
//!
//! The pool (`--max-instances`) is one for the whole process. Each component
//! reserves its `limits.max_concurrent` instances when it loads, so that no
//! component can take instances another one was promised: a component at its
//! limit gets "busy", and the others keep their share. A reservation is held
//! by the versions of a component that use it and returned when the last of
//! them is gone (an old version keeps it while its calls finish).

use std::sync::{Arc, Mutex};

/// Instances the pool holds, and how many are promised to components.
pub struct Capacity {
    total: u32,
    reserved: Mutex<u32>,
}

/// Instances set aside for one component; given back on drop.
pub struct Reservation {
    capacity: Arc<Capacity>,
    count: u32,
}

/// A reservation that does not fit now; it may once others are given back.
#[derive(Debug)]
pub struct Full {
    wanted: u32,
    free: u32,
    total: u32,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not enough capacity: limits.max_concurrent needs {} instances but only {} of the host's {} \
             (--max-instances) are free; retried at every scan",
            self.wanted, self.free, self.total
        )
    }
}

impl std::error::Error for Full {}

impl Capacity {
    pub fn new(total: u32) -> Arc<Self> {
        Arc::new(Self { total, reserved: Mutex::new(0) })
    }

    /// Sets `count` instances aside, or says why it cannot.
    pub fn reserve(self: &Arc<Self>, count: u32) -> Result<Reservation, Full> {
        let mut reserved = self.reserved.lock().expect("no panics while locked");
        let free = self.total - *reserved;
        if count > free {
            return Err(Full { wanted: count, free, total: self.total });
        }
        *reserved += count;
        Ok(Reservation { capacity: self.clone(), count })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        *self.capacity.reserved.lock().expect("no panics while locked") -= self.count;
    }
}

/// The instances one component may run at once, reserved in the pool.
pub struct Slots {
    pub permits: tokio::sync::Semaphore,
    pub size: usize,
    _reservation: Reservation,
}

impl Slots {
    pub fn reserve(capacity: &Arc<Capacity>, size: usize) -> anyhow::Result<Self> {
        // The policy bounds `size` far below `u32::MAX`; an absurd one still fails cleanly.
        let count = u32::try_from(size).unwrap_or(u32::MAX);
        let reservation = capacity.reserve(count)?;
        Ok(Self { permits: tokio::sync::Semaphore::new(size), size, _reservation: reservation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_pool_and_are_given_back() {
        let capacity = Capacity::new(10);
        let a = capacity.reserve(6).unwrap();
        let Err(refused) = capacity.reserve(5) else { panic!("6 + 5 instances fit a pool of 10") };
        assert_eq!((refused.wanted, refused.free, refused.total), (5, 4, 10));
        let b = capacity.reserve(4).unwrap();
        drop(a);
        let c = capacity.reserve(6).unwrap();
        assert!(capacity.reserve(1).is_err());
        drop((b, c));
        assert!(capacity.reserve(10).is_ok());
    }
}
