//! Channels found failing during one run (a stream batch, a clock tick): after the first
//! delivery on a channel fails for a reason that may pass (throttling, 5xx, a timeout), the rest
//! of the run sends nothing more on it, so a provider outage costs a run one failed call per
//! channel, not one per notice. What is not sent stays owed for the next run. Kept per task
//! (a run is one task), so concurrent runs never see each other's findings.

use std::{cell::RefCell, future::Future};

use super::deliveries::Channel;

tokio::task_local! {
    static DOWN: RefCell<Vec<Channel>>;
}

/// Runs `run` with its own record of failing channels.
pub async fn scoped<F: Future>(run: F) -> F::Output {
    DOWN.scope(RefCell::new(Vec::new()), run).await
}

/// Whether `channel` failed earlier in this run (false outside a run).
pub fn is_down(channel: Channel) -> bool {
    DOWN.try_with(|d| d.borrow().contains(&channel))
        .unwrap_or(false)
}

/// Marks `channel` failing for the rest of this run.
pub fn mark_down(channel: Channel) {
    let _ = DOWN.try_with(|d| {
        let mut down = d.borrow_mut();
        if !down.contains(&channel) {
            down.push(channel);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_channel_marked_down_stays_down_for_its_run_alone() {
        scoped(async {
            assert!(!is_down(Channel::Sms));
            mark_down(Channel::Sms);
            assert!(is_down(Channel::Sms));
            assert!(!is_down(Channel::Email));
            scoped(async { assert!(!is_down(Channel::Sms), "another run") }).await;
        })
        .await;
        assert!(!is_down(Channel::Sms), "outside a run nothing is down");
        mark_down(Channel::Email);
    }
}
