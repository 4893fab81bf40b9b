//! Draws the library's progress events on stderr: a bar per task, lines above it.

use crate::progress::{Event, Observer};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

/// The command line's observer. `quiet` drops bars and lines; warnings are always shown.
pub(crate) struct Terminal {
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    pub(crate) fn new(quiet: bool) -> Self {
        Terminal {
            quiet,
            bar: Mutex::new(None),
        }
    }

    /// Prints a line without tearing the current bar.
    fn line(&self, text: &str) {
        match &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}

impl Observer for Terminal {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Warning(text) => self.line(&format!("warning: {text}")),
            _ if self.quiet => {}
            Event::Line(text) => self.line(text),
            Event::Start { label, total } => {
                let bar = ProgressBar::new(total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(label.to_string());
                let old = self
                    .bar
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .replace(bar);
                if let Some(old) = old {
                    old.finish_and_clear();
                }
            }
            Event::Step { status } => {
                if let Some(bar) = &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
                    if let Some(s) = status {
                        bar.set_message(s.to_string());
                    }
                    bar.inc(1);
                }
            }
            Event::Finish => {
                if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
