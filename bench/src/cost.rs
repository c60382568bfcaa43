//! Lambda cost per million requests from the measured figures.
//!
//! Model, stated in the report: a function configured with [`MEMORY_MB`] gets
//! `MEMORY_MB / FULL_VCPU_MB` of a vCPU, so a request needs at least its CPU time scaled up by
//! that share; and it needs at least its wall time at one connection (which includes waiting
//! for the store). The billed duration is the larger of the two, rounded up to whole
//! milliseconds (Lambda bills in 1 ms steps).

/// USD per GB-second, x86_64, US East (N. Virginia), first pricing tier.
pub(crate) const PRICE_PER_GB_SECOND: f64 = 0.000_016_666_7;
/// USD per million requests.
pub(crate) const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;
/// The configured memory the estimate assumes (Lambda's smallest setting).
pub(crate) const MEMORY_MB: f64 = 128.0;
/// The memory setting at which a function gets one full vCPU.
pub(crate) const FULL_VCPU_MB: f64 = 1769.0;

/// An estimate for one kind of request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Estimate {
    /// The CPU-bound lower bound of the duration, ms.
    pub(crate) cpu_bound_ms: Option<f64>,
    pub(crate) billed_ms: f64,
    /// USD per million requests, duration and request charges.
    pub(crate) per_million: f64,
}

/// The estimate from a wall time (ms) and a CPU time per request (µs).
pub(crate) fn estimate(wall_ms: f64, cpu_us: Option<f64>) -> Estimate {
    let cpu_bound_ms = cpu_us.map(|c| c / 1000.0 * FULL_VCPU_MB / MEMORY_MB);
    let duration = cpu_bound_ms.map_or(wall_ms, |c| c.max(wall_ms));
    let billed_ms = duration.ceil().max(1.0);
    let gb_seconds = billed_ms / 1000.0 * MEMORY_MB / 1024.0;
    Estimate {
        cpu_bound_ms,
        billed_ms,
        per_million: gb_seconds * PRICE_PER_GB_SECOND * 1e6 + PRICE_PER_MILLION_REQUESTS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billed_in_whole_milliseconds_from_the_larger_bound() {
        // 100 µs of CPU at 128 MB: 1.38 ms, above a 0.4 ms wall time: billed 2 ms.
        let e = estimate(0.4, Some(100.0));
        assert_eq!(e.billed_ms, 2.0);
        let expected = 0.002 * 0.125 * PRICE_PER_GB_SECOND * 1e6 + 0.20;
        assert!((e.per_million - expected).abs() < 1e-12);
        // The wall time wins when it is larger.
        assert_eq!(estimate(5.2, Some(10.0)).billed_ms, 6.0);
        assert_eq!(estimate(0.1, None).billed_ms, 1.0);
    }
}
