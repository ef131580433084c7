//! Evaluations during training: every `--eval-every` steps the loop paints portraits on the
//! training device and hands them to a thread of its own, which measures them against the real
//! crops ([`crate::evaluation`]); the results are logged when they come back, and the best
//! generator so far is kept beside the run.

use anyhow::Result;
use atelier_shared::RgbImage;
use std::sync::mpsc::{Receiver, Sender, channel};

use crate::evaluation::{Evaluation, Reference};

/// Portraits measured by each evaluation during training (`trainer evaluate` defaults to 1,000).
pub const EVAL_PORTRAITS: usize = 256;
/// The generator with the best SWD so far, in the run folder.
pub const BEST_GENERATOR_FILE: &str = "generator-best.bpk";

/// Evaluations during training, on a thread of their own: the training loop hands over the
/// portraits (painted on the training device) and goes on; the results come back when ready.
/// The real crops are measured on that thread too, so even that does not hold training up.
pub struct BackgroundEvaluator {
    jobs: Option<Sender<Job>>,
    results: Receiver<Result<Finished>>,
    pending: usize,
    worker: Option<std::thread::JoinHandle<()>>,
}

struct Job {
    step: u64,
    portraits: Vec<RgbImage>,
    /// The weights that painted them, kept if they turn out best.
    weights: Vec<u8>,
}

/// A finished evaluation, with the weights it measured.
pub struct Finished {
    pub step: u64,
    pub evaluation: Evaluation,
    pub weights: Vec<u8>,
}

impl BackgroundEvaluator {
    pub fn start(crops: Vec<RgbImage>) -> Self {
        let (jobs, inbox) = channel::<Job>();
        let (outbox, results) = channel();
        let worker = std::thread::spawn(move || {
            let reference = Reference::new(&crops);
            for job in inbox {
                let result = match &reference {
                    Ok(reference) => reference
                        .evaluate(&job.portraits)
                        .map(|evaluation| Finished { step: job.step, evaluation, weights: job.weights }),
                    Err(e) => Err(anyhow::anyhow!("cannot measure the real images: {e:#}")),
                };
                if outbox.send(result).is_err() {
                    return;
                }
            }
        });
        Self { jobs: Some(jobs), results, pending: 0, worker: Some(worker) }
    }

    pub fn submit(&mut self, step: u64, portraits: Vec<RgbImage>, weights: Vec<u8>) -> Result<()> {
        let jobs = self.jobs.as_ref().expect("submit before finish");
        jobs.send(Job { step, portraits, weights }).map_err(|_| anyhow::anyhow!("the evaluation thread stopped"))?;
        self.pending += 1;
        Ok(())
    }

    /// The evaluations finished since the last call, without waiting.
    pub fn ready(&mut self) -> Result<Vec<Finished>> {
        let mut done = Vec::new();
        while let Ok(result) = self.results.try_recv() {
            self.pending -= 1;
            done.push(result?);
        }
        Ok(done)
    }

    /// Waits for every evaluation handed over.
    pub fn finish(&mut self) -> Result<Vec<Finished>> {
        self.jobs = None;
        let mut done = Vec::new();
        while self.pending > 0 {
            let result = self.results.recv().map_err(|_| anyhow::anyhow!("the evaluation thread stopped"))?;
            self.pending -= 1;
            done.push(result?);
        }
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        Ok(done)
    }
}

