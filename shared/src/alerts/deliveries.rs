//! Deliveries as data: each notice an episode owes (fired, reminder, resolved) on each channel of
//! its rule (SMS through the ops topic, email through SES) is a [`Delivery`], kept on the
//! episode's tracker until it is settled, and its [`DeliveryStatus`] is recorded on the alert for
//! the inbox. Pure.

use super::{evaluate::Event, rules::Rule};

/// Where a notice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// A publish to the ops SNS topic (SMS and the other subscribers).
    Sms,
    /// An email to the rule's recipients through SES.
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

/// One notice owed on one channel, for one alert (an episode). A tracker can owe the notices of
/// two alerts at once: the resolved notice of an episode held back by quiet hours, and the fired
/// notice of the next one; each goes out for its own alert, the older one's first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Delivery {
    pub alert_id: String,
    pub event: Event,
    pub channel: Channel,
}

impl Event {
    /// The word stored in delivery keys and sent as the SNS `event` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Fired => "fire",
            Event::Reminder => "remind",
            Event::Resolved => "resolve",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "fire" => Some(Event::Fired),
            "remind" => Some(Event::Reminder),
            "resolve" => Some(Event::Resolved),
            _ => None,
        }
    }
}

impl Delivery {
    /// What a rule's channels owe for an event of `alert_id`, in the order they are sent.
    pub fn owed(rule: &Rule, alert_id: &str, event: Event) -> Vec<Delivery> {
        let mut out = Vec::new();
        let mut push = |channel| {
            out.push(Delivery {
                alert_id: alert_id.to_owned(),
                event,
                channel,
            })
        };
        if rule.channels.sms {
            push(Channel::Sms);
        }
        if !rule.channels.email.is_empty() {
            push(Channel::Email);
        }
        out
    }

    /// The key in the alert's `deliveries` map: `<event>:<channel>` (`fire:sms`).
    pub fn slot(&self) -> String {
        format!("{}:{}", self.event.as_str(), self.channel.as_str())
    }

    /// The stored form in the tracker's set of owed deliveries: `<alert>/<event>:<channel>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.alert_id, self.slot())
    }

    /// Reads a stored key. A key written before deliveries named their alert (`fire:sms`)
    /// belongs to the tracker's `current` alert.
    pub fn parse(key: &str, current: Option<&str>) -> Option<Self> {
        let (alert_id, slot) = match key.split_once('/') {
            Some((alert, slot)) if !alert.is_empty() => (alert, slot),
            Some(_) => return None,
            None => (current?, key),
        };
        let (event, channel) = slot.split_once(':')?;
        let channel = match channel {
            "sms" => Channel::Sms,
            "email" => Channel::Email,
            _ => return None,
        };
        Some(Self {
            alert_id: alert_id.to_owned(),
            event: Event::parse(event)?,
            channel,
        })
    }

    /// The order notices go out: an earlier episode's notices before the `current` one's (the
    /// tracker moved on from them); within an episode its fired notice before its reminders
    /// before its resolved notice; SMS before email.
    pub fn sorted(mut deliveries: Vec<Delivery>, current: Option<&str>) -> Vec<Delivery> {
        deliveries.sort_by(|a, b| {
            let rank = |d: &Delivery| (Some(d.alert_id.as_str()) == current, d.event, d.channel);
            rank(a)
                .cmp(&rank(b))
                .then_with(|| a.alert_id.cmp(&b.alert_id))
        });
        deliveries
    }
}

pub use crate::schema::DeliveryStatus;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_round_trip_their_stored_keys_and_sort_in_sending_order() {
        for key in ["al_1/fire:sms", "al_1/remind:email", "al_2/resolve:sms"] {
            assert_eq!(Delivery::parse(key, None).unwrap().key(), key);
        }
        // A key from before deliveries named their alert belongs to the current one.
        let legacy = Delivery::parse("resolve:email", Some("al_9")).unwrap();
        assert_eq!(legacy.key(), "al_9/resolve:email");
        assert_eq!(legacy.slot(), "resolve:email");
        assert_eq!(Delivery::parse("fire:sms", None), None);
        assert_eq!(Delivery::parse("al_1/fire:fax", None), None);
        assert_eq!(Delivery::parse("al_1/fire", None), None);
        assert_eq!(Delivery::parse("/fire:sms", None), None);
        // The episode before (al_1, its resolved notice held back) goes first, then the current
        // episode (al_2) in its own order.
        let sorted = Delivery::sorted(
            [
                "al_2/resolve:sms",
                "al_2/fire:email",
                "al_1/resolve:sms",
                "al_2/fire:sms",
                "al_2/remind:sms",
            ]
            .iter()
            .map(|k| Delivery::parse(k, None).unwrap())
            .collect(),
            Some("al_2"),
        );
        let keys: Vec<String> = sorted.iter().map(Delivery::key).collect();
        assert_eq!(
            keys,
            [
                "al_1/resolve:sms",
                "al_2/fire:sms",
                "al_2/fire:email",
                "al_2/remind:sms",
                "al_2/resolve:sms"
            ]
        );
    }
}
