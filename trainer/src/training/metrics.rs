//! What a run writes down as it goes: `metrics.csv` (a row per logged step, a row per
//! evaluation) and the same scalars in TensorBoard.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

use super::step::StepMetrics;
use super::tensorboard::EventWriter;
use crate::evaluation::Evaluation;

/// One row of `metrics.csv`: a step's scalars, or (a row of its own, written when it finishes)
/// an evaluation of the portraits at a step.
#[derive(Default)]
pub struct MetricsRow {
    pub step: u64,
    pub epoch: u64,
    pub metrics: StepMetrics,
    pub images_per_second: f64,
    pub evaluation: Option<Evaluation>,
}

impl MetricsRow {
    /// (column, value) pairs; evaluation columns only at evaluation steps.
    fn columns(&self) -> Vec<(&'static str, String)> {
        let m = &self.metrics;
        let mut columns = vec![("step", self.step.to_string()), ("epoch", self.epoch.to_string())];
        if let Some(e) = &self.evaluation {
            columns.extend([
                ("swd_64", format!("{:.2}", e.swd.levels[0])),
                ("swd_32", format!("{:.2}", e.swd.levels[1])),
                ("swd_16", format!("{:.2}", e.swd.levels[2])),
                ("swd", format!("{:.2}", e.swd.average)),
                ("swd_floor", format!("{:.2}", e.swd_floor.average)),
                ("face_rate", format!("{:.4}", e.face_rate)),
                ("diversity", format!("{:.4}", e.diversity)),
                ("nearest_crop", format!("{:.4}", e.nearest_crop)),
                ("high_frequency", format!("{:.4}", e.high_frequency)),
            ]);
        } else {
            columns.extend([
                ("d_loss", m.d_loss.to_string()),
                ("g_loss", m.g_loss.to_string()),
                ("d_real", m.d_real.to_string()),
                ("d_fake", m.d_fake.to_string()),
                ("images_per_second", format!("{:.2}", self.images_per_second)),
            ]);
        }
        columns
    }
}

/// All columns of `metrics.csv`, in order (each row fills either the training or the
/// evaluation columns).
const METRICS_COLUMNS: &[&str] = &[
    "step", "epoch", "d_loss", "g_loss", "d_real", "d_fake", "images_per_second", "swd_64", "swd_32", "swd_16", "swd",
    "swd_floor", "face_rate", "diversity", "nearest_crop", "high_frequency",
];

/// `metrics.csv`, appended to. A file begun by an older trainer keeps its own header: rows
/// follow the columns it names.
pub struct MetricsCsv {
    file: std::fs::File,
    columns: Vec<String>,
}

impl MetricsCsv {
    pub fn open(run: &Path) -> Result<Self> {
        let path = run.join("metrics.csv");
        let existing = std::fs::read_to_string(&path).ok();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let header = existing.as_deref().and_then(|text| text.lines().next()).filter(|h| !h.is_empty());
        let columns: Vec<String> = match header {
            Some(header) => header.split(',').map(str::to_string).collect(),
            None => {
                writeln!(file, "{}", METRICS_COLUMNS.join(","))?;
                METRICS_COLUMNS.iter().map(|c| c.to_string()).collect()
            }
        };
        Ok(Self { file, columns })
    }

    pub fn write(&mut self, row: &MetricsRow) -> Result<()> {
        let values = row.columns();
        let line: Vec<&str> = self
            .columns
            .iter()
            .map(|column| values.iter().find(|(name, _)| name == column).map_or("", |(_, v)| v.as_str()))
            .collect();
        writeln!(self.file, "{}", line.join(","))?;
        Ok(())
    }
}

pub fn log_metrics(events: &mut EventWriter, row: &MetricsRow) -> Result<()> {
    let m = &row.metrics;
    let mut scalars = Vec::new();
    if let Some(e) = &row.evaluation {
        scalars.extend([
            ("evaluation/swd", e.swd.average as f32),
            ("evaluation/swd_64", e.swd.levels[0] as f32),
            ("evaluation/swd_32", e.swd.levels[1] as f32),
            ("evaluation/swd_16", e.swd.levels[2] as f32),
            ("evaluation/face_rate", e.face_rate as f32),
            ("evaluation/diversity", e.diversity as f32),
            ("evaluation/nearest_crop", e.nearest_crop as f32),
            ("evaluation/high_frequency", e.high_frequency as f32),
        ]);
    } else {
        scalars.extend([
            ("loss/discriminator", m.d_loss),
            ("loss/generator", m.g_loss),
            ("D(x)", m.d_real),
            ("D(G(z))", m.d_fake),
            ("images_per_second", row.images_per_second as f32),
        ]);
    }
    for (tag, value) in scalars {
        events.scalar(tag, row.step, value)?;
    }
    events.flush()
}

/// Where a run writes down what it measures: `metrics.csv` and TensorBoard, row by row.
pub struct RunLog {
    pub csv: MetricsCsv,
    pub events: EventWriter,
}

impl RunLog {
    pub fn open(run: &Path) -> Result<Self> {
        Ok(Self { events: EventWriter::create(run)?, csv: MetricsCsv::open(run)? })
    }

    /// A row in metrics.csv and the same scalars in TensorBoard.
    pub fn write(&mut self, row: &MetricsRow) -> Result<()> {
        self.csv.write(row)?;
        log_metrics(&mut self.events, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new file gets every column; a file begun by an older trainer keeps its header and gets
    /// rows in its columns.
    #[test]
    fn rows_follow_the_files_own_header() {
        let dir = tempfile::tempdir().unwrap();
        let row = MetricsRow {
            step: 3,
            epoch: 1,
            metrics: StepMetrics { d_loss: 0.5, g_loss: 0.25, d_real: 0.75, d_fake: 0.125 },
            images_per_second: 10.0,
            evaluation: None,
        };
        MetricsCsv::open(dir.path()).unwrap().write(&row).unwrap();
        let text = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], METRICS_COLUMNS.join(","));
        assert_eq!(lines[1], "3,1,0.5,0.25,0.75,0.125,10.00,,,,,,,,,");

        let old = tempfile::tempdir().unwrap();
        std::fs::write(old.path().join("metrics.csv"), "step,epoch,d_loss,g_loss,d_real,d_fake,images_per_second\n1,1,1,1,1,1,1.00\n").unwrap();
        MetricsCsv::open(old.path()).unwrap().write(&row).unwrap();
        let text = std::fs::read_to_string(old.path().join("metrics.csv")).unwrap();
        assert_eq!(text.lines().last().unwrap(), "3,1,0.5,0.25,0.75,0.125,10.00");
        assert_eq!(text.lines().count(), 3);
    }
}
