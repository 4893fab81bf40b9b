//! Progress of long work. The library prints nothing: training, explaining and the main job
//! report what they do to an [`Observer`] the caller passes, and the caller decides what to
//! show (the command line draws progress bars and lines on stderr; a notebook may pass a
//! closure).

/// One thing that long work reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// A task of `total` steps begins, e.g. one training epoch or one explanation method.
    Start {
        /// What the task is (`"epoch 3/10"`, `"gradient"`).
        label: &'a str,
        /// How many steps it takes.
        total: u64,
    },
    /// One more step of the current task is done; `status` sums it up (a running loss).
    Step {
        /// A short status line for the step, if any.
        status: Option<&'a str>,
    },
    /// The current task is over.
    Finish,
    /// A result worth a line of its own: an epoch's losses, a finished stage, a chosen setting.
    Line(&'a str),
    /// Something the user should know about the input or the settings (what was skipped, why).
    Warning(&'a str),
}

/// Receives the [`Event`]s of long work. Any `Fn(Event) + Sync` closure is an observer.
///
/// ```
/// use rationale::progress::{Event, Observer};
/// let lines = std::sync::Mutex::new(Vec::new());
/// let observer = |e: Event| {
///     if let Event::Line(text) = e {
///         lines.lock().unwrap().push(text.to_string());
///     }
/// };
/// observer.event(Event::Line("epoch 1/1: train loss 0.5"));
/// assert_eq!(lines.lock().unwrap().len(), 1);
/// ```
pub trait Observer: Sync {
    /// Called for each event, in order, from the thread doing the work.
    fn event(&self, event: Event<'_>);
}

impl<F: Fn(Event<'_>) + Sync> Observer for F {
    fn event(&self, event: Event<'_>) {
        self(event)
    }
}

/// The observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event<'_>) {}
}
