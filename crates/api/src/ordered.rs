//! Requests in flight at once, results in input order.
//!
//! `concurrency` worker threads take jobs; the calling thread feeds them and
//! hands each result to `sink` in the order the jobs came. At most
//! `2 × concurrency` jobs are between the feed and the sink, so a stalled
//! request holds back at most that many finished ones: memory stays bounded
//! whatever the input's length.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use refinery_core::Result;

/// Maps every job through `work` on `concurrency` threads and passes the
/// results to `sink` in job order. Stops at the first error from `jobs` or
/// `sink` (requests already sent are finished first).
pub fn map_ordered<J, R>(
    jobs: impl Iterator<Item = Result<J>>,
    concurrency: usize,
    work: impl Fn(J) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<()>,
) -> Result<()>
where
    J: Send,
    R: Send,
{
    let concurrency = concurrency.max(1);
    let window = 2 * concurrency;
    std::thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::sync_channel::<(u64, J)>(window);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel::<(u64, R)>();
        for _ in 0..concurrency {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let work = &work;
            scope.spawn(move || loop {
                // The lock is held only while taking a job.
                let next = job_rx.lock().expect("no worker panics holding it").recv();
                let Ok((index, job)) = next else { return };
                if done_tx.send((index, work(job))).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let mut jobs = jobs;
        let (mut fed, mut emitted) = (0u64, 0u64);
        let mut finished: BTreeMap<u64, R> = BTreeMap::new();
        let mut exhausted = false;
        loop {
            while !exhausted && fed - emitted < window as u64 {
                match jobs.next() {
                    Some(job) => {
                        job_tx
                            .send((fed, job?))
                            .expect("workers live while jobs are fed");
                        fed += 1;
                    }
                    None => exhausted = true,
                }
            }
            if emitted == fed {
                return Ok(());
            }
            let (index, result) = done_rx
                .recv()
                .expect("a worker holds every job not yet done");
            finished.insert(index, result);
            while let Some(result) = finished.remove(&emitted) {
                sink(result)?;
                emitted += 1;
            }
        }
    })
}

/// [`map_ordered`] into a vector.
pub fn map_all<J: Send, R: Send>(
    jobs: Vec<J>,
    concurrency: usize,
    work: impl Fn(J) -> R + Sync,
) -> Vec<R> {
    let mut out = Vec::with_capacity(jobs.len());
    map_ordered(jobs.into_iter().map(Ok), concurrency, work, |r| {
        out.push(r);
        Ok(())
    })
    .expect("neither the jobs nor the sink fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn results_come_in_job_order_whatever_the_finishing_order() {
        let jobs: Vec<u64> = (0..50).collect();
        let out = map_all(jobs, 8, |i| {
            // Later jobs finish first.
            std::thread::sleep(Duration::from_millis((50 - i) % 7));
            i * 10
        });
        assert_eq!(out, (0..50).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[test]
    fn no_more_than_the_window_is_in_flight() {
        let in_flight = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let out = map_all((0..40).collect::<Vec<u32>>(), 4, |i| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            i
        });
        assert_eq!(out.len(), 40);
        assert!(most.load(Ordering::SeqCst) <= 4);
        assert!(most.load(Ordering::SeqCst) >= 2, "jobs ran in parallel");
    }

    #[test]
    fn an_error_from_the_sink_stops_the_run() {
        let mut seen = 0;
        let result = map_ordered(
            (0..100).map(Ok),
            3,
            |i: u32| i,
            |i| {
                seen += 1;
                if i == 10 {
                    Err(refinery_core::Error::usage("stop"))
                } else {
                    Ok(())
                }
            },
        );
        assert!(result.is_err());
        assert_eq!(seen, 11);
    }
}
