//! Full-load progress for people: bars per table and overall (`indicatif`) when stderr is a
//! terminal, plain log lines every few seconds otherwise (services, CI, files).
//!
//! Bars show rows published so far against the table's estimate, with rows/s and an ETA;
//! `SLUICE_PROGRESS=log` forces log lines on a terminal, `SLUICE_PROGRESS=bars` bars elsewhere.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_core::ChunkedTable;

/// How often log lines are written.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// How often bars are redrawn.
const DRAW_EVERY: Duration = Duration::from_millis(100);

/// One table's numbers, as the full load counts them.
#[derive(Debug, Clone, Copy)]
pub struct TableProgress {
    pub estimated: u64,
    /// Rows done: finished in earlier runs plus published in this one.
    pub done: u64,
    /// Rows published in this run (for the rate).
    pub sent: u64,
    pub finished: bool,
}

pub enum Reporter {
    Bars { _multi: MultiProgress, tables: Vec<ProgressBar>, total: ProgressBar, last: Instant },
    Log { last: Instant },
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Reporter {
    pub fn new(plan: &[impl ChunkedTable]) -> Self {
        let bars = match std::env::var("SLUICE_PROGRESS").as_deref() {
            Ok("bars") => true,
            Ok("log") => false,
            _ => std::io::stderr().is_terminal(),
        };
        if !bars {
            return Reporter::Log { last: Instant::now() };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let table_style = style(
            "{prefix:>30!} [{bar:30.cyan/blue}] {human_pos:>11}/{human_len:<11} {per_sec:>12} eta {eta}",
        );
        let tables = plan
            .iter()
            .map(|p| {
                let b = multi.add(ProgressBar::new(p.estimated_rows().max(1)));
                b.set_style(table_style.clone().progress_chars("=> "));
                b.set_prefix(p.name());
                b
            })
            .collect();
        let total = multi.add(ProgressBar::new(plan.iter().map(|p| p.estimated_rows()).sum::<u64>().max(1)));
        total.set_style(
            style("{prefix:>30!} [{bar:30.green/blue}] {human_pos:>11}/{human_len:<11} {per_sec:>12} eta {eta} ({elapsed})")
                .progress_chars("=> "),
        );
        total.set_prefix("all tables");
        Reporter::Bars { _multi: multi, tables, total, last: Instant::now() }
    }

    /// Show `tables` (in plan order) if it is time to.
    pub fn update(&mut self, plan: &[impl ChunkedTable], tables: &[TableProgress], started: Instant) {
        match self {
            Reporter::Bars { tables: bars, total, last, .. } => {
                if last.elapsed() < DRAW_EVERY {
                    return;
                }
                *last = Instant::now();
                let (mut done, mut est) = (0, 0);
                for (bar, t) in bars.iter().zip(tables) {
                    let len = t.estimated.max(t.done).max(1);
                    bar.set_length(if t.finished { t.done.max(1) } else { len });
                    bar.set_position(t.done);
                    if t.finished && !bar.is_finished() {
                        bar.finish();
                    }
                    done += t.done;
                    est += if t.finished { t.done } else { len };
                }
                total.set_length(est.max(1));
                total.set_position(done);
            }
            Reporter::Log { last } => {
                if last.elapsed() < LOG_EVERY {
                    return;
                }
                *last = Instant::now();
                log_lines(plan, tables, started);
            }
        }
    }

    pub fn finish(&self) {
        if let Reporter::Bars { tables, total, .. } = self {
            for b in tables {
                b.finish();
            }
            total.finish();
        }
    }
}

/// One line per table still loading, and one overall.
fn log_lines(plan: &[impl ChunkedTable], tables: &[TableProgress], started: Instant) {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let (mut rows, mut est, mut sent) = (0u64, 0u64, 0u64);
    for (p, t) in plan.iter().zip(tables) {
        rows += t.done;
        est += t.estimated.max(t.done);
        sent += t.sent;
        if t.finished {
            continue;
        }
        let rate = t.sent as f64 / secs;
        let eta = if rate > 0.0 { (t.estimated.saturating_sub(t.done) as f64 / rate) as u64 } else { 0 };
        tracing::info!(table = %p.name(), rows = t.done, estimated = t.estimated.max(t.done), rows_per_sec = rate as u64, eta_secs = eta, "full load progress");
    }
    let rate = sent as f64 / secs;
    let eta = if rate > 0.0 { (est.saturating_sub(rows) as f64 / rate) as u64 } else { 0 };
    tracing::info!(
        table = "*",
        rows,
        estimated = est,
        rows_per_sec = rate as u64,
        eta_secs = eta,
        "full load progress"
    );
}
