//! Turns core events into what a person sees: on a terminal an indicatif bar for the whole
//! apply with a line per finished step; otherwise plain timestamped lines. Everything goes to
//! stderr so stdout stays clean for plans and JSON.

use std::sync::Mutex;

use console::Style;
use indicatif::{ProgressBar, ProgressStyle};

use super::output::errln;
use crate::plan::Action;
use crate::report::{Event, Reporter};

pub struct Progress {
    bar: Mutex<Option<ProgressBar>>,
    terminal: bool,
    color: bool,
}

impl Progress {
    pub fn new(terminal: bool, color: bool) -> Self {
        Progress {
            bar: Mutex::new(None),
            terminal,
            color,
        }
    }

    fn line(&self, text: String) {
        let bar = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        match bar.as_ref() {
            Some(bar) => bar.println(text),
            None if self.terminal => errln!("{text}"),
            None => errln!("{} {text}", crate::clock::now_rfc3339()),
        }
    }

    fn style(&self, s: Style) -> Style {
        s.force_styling(self.color)
    }

    /// Ends the bar (call before printing the summary).
    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "Creating",
        Action::Update => "Updating",
        Action::Replace => "Replacing",
        Action::Delete => "Destroying",
        Action::NoOp => "Checking",
    }
}

fn done(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "destroyed",
        Action::NoOp => "unchanged",
    }
}

impl Reporter for Progress {
    fn report(&self, event: Event<'_>) {
        match event {
            Event::RefreshStarted { provider, resources } if resources > 0 => {
                self.line(format!("Refreshing {resources} resource(s) at {provider}..."));
            }
            Event::RefreshStarted { .. } => {}
            Event::RefreshFinished {
                provider,
                present,
                gone,
                adopted,
            } => {
                if gone + adopted > 0 || present > 0 {
                    self.line(format!(
                        "Refreshed {provider}: {present} present, {gone} gone, {adopted} adopted"
                    ));
                }
            }
            Event::RefreshRetrying {
                provider,
                attempt,
                wait,
                error,
            } => self.line(format!(
                "Refreshing {provider}: attempt {attempt} failed ({error}); retrying in {:.1}s",
                wait.as_secs_f64()
            )),
            Event::ProviderUnreachable { provider, error } => self.line(format!(
                "{}",
                self.style(Style::new().yellow()).apply_to(format!(
                    "Provider {provider} is unreachable ({error}); it holds nothing of this state, planning without it"
                ))
            )),
            Event::Recovered { steps } => self.line(format!(
                "Recovered {steps} finished step(s) of an apply that did not complete"
            )),
            Event::ApplyStarted { steps } => {
                if self.terminal {
                    let bar = ProgressBar::new(steps as u64);
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
                }
            }
            Event::StepStarted { address, action } => {
                if !self.terminal {
                    self.line(format!("{address}: {}...", verb(action)));
                }
            }
            Event::StepRetrying {
                address,
                attempt,
                wait,
                error,
            } => self.line(format!(
                "{address}: attempt {attempt} failed ({error}); retrying in {:.1}s",
                wait.as_secs_f64()
            )),
            Event::StepFailedOver {
                address,
                from,
                to,
                error,
            } => {
                let next = to.map_or("no candidate left".to_string(), |p| format!("trying {p}"));
                self.line(format!(
                    "{}",
                    self.style(Style::new().yellow())
                        .apply_to(format!("{address}: {from} refused ({error}); {next}"))
                ));
            }
            Event::StepFinished {
                address,
                action,
                elapsed,
                placement,
            } => {
                let at = placement.map_or(String::new(), |p| format!(" at {p}"));
                self.line(format!(
                    "{}",
                    self.style(Style::new().green()).apply_to(format!(
                        "{address}: {}{at} [{:.1}s]",
                        done(action),
                        elapsed.as_secs_f64()
                    ))
                ));
                if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    bar.inc(1);
                }
            }
            Event::StepFailed {
                address,
                action,
                error,
            } => {
                self.line(format!(
                    "{}",
                    self.style(Style::new().red())
                        .apply_to(format!("{address}: {} failed: {error}", verb(action).to_lowercase()))
                ));
                if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    bar.inc(1);
                }
            }
            Event::StepNotNeeded { address, .. } => {
                self.line(format!(
                    "{address}: not needed: refused at every candidate, and what needed it was placed elsewhere (nothing created)"
                ));
                if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    bar.inc(1);
                }
            }
            Event::StepSkipped { address, because } => {
                self.line(format!("{address}: skipped because {because} failed"));
            }
            Event::Deposed {
                address,
                provider_id,
            } => self.line(format!(
                "{address}: keeping the old object {provider_id} until its replacement is ready (create before destroy)"
            )),
            Event::ReplacementReady {
                address,
                provider_id,
                old,
            } => self.line(format!(
                "{address}: replacement {provider_id} is ready; deleting the old object {old}"
            )),
            Event::DeposedDeleted {
                address,
                provider_id,
            } => self.line(format!("{address}: old object {provider_id} deleted")),
            Event::Interrupted { in_flight } => self.line(format!(
                "Interrupted: starting nothing new, waiting for {in_flight} step(s) in flight, then saving state. Interrupt again to stop at once."
            )),
            Event::ApplyNotRecorded { path, error } => self.line(format!(
                "{}",
                self.style(Style::new().yellow()).apply_to(format!(
                    "warning: the apply's summary was not recorded in {} ({error}); /metrics will not count it",
                    crate::echo::EchoPath(path)
                ))
            )),
        }
    }
}
