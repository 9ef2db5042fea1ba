//! Closing a hold: released by its owner, committed into a sale (all of it, or the units taken),
//! or expired by the sweep; each one transaction that gives back what is not sold.

use super::*;

/// What a commit adds to its closing transaction: the order, and how each line's counters
/// are written (learned from a cancellation).
pub(super) struct Commit<'a> {
    order_id: &'a str,
    request_hash: &'a str,
    shapes: &'a mut Vec<CounterShape>,
}

pub(super) enum Closed {
    Done(Box<Reservation>),
    /// The reservation was no longer active (or its time was not as expected): read it again.
    Lost,
    /// Another writer got in the way: try again.
    Conflict,
    /// A commit's counters must be written in another shape (now known): send it again.
    Reshaped,
}

/// How many of each held line a commit takes: `takes` in full when None; every line it names
/// must be held and take no more than is held, and the order takes at least one unit.
pub fn taken(r: &Reservation, takes: Option<&[Take]>) -> Result<Vec<i64>, Vec<FieldError>> {
    let Some(takes) = takes else {
        if r.lines.iter().all(|l| l.quantity == 0) {
            return Err(vec![FieldError::new(
                "lines",
                "a stocktake found fewer units than were held and cut every line of this hold \
                 to nothing: there is nothing to commit; release it",
            )]);
        }
        return Ok(r.lines.iter().map(|l| l.quantity).collect());
    };
    let mut errors = Vec::new();
    let mut out = vec![0i64; r.lines.len()];
    for (i, t) in takes.iter().enumerate() {
        match r
            .lines
            .iter()
            .position(|l| l.sku == t.sku.as_str() && l.location == t.location.as_str())
        {
            None => errors.push(FieldError::new(
                format!("lines[{i}]"),
                format!(
                    "the reservation holds no {} at {}",
                    t.sku.as_str(),
                    t.location.as_str()
                ),
            )),
            Some(p) if i64::from(t.quantity) > r.lines[p].quantity => errors.push(FieldError::new(
                format!("lines[{i}].quantity"),
                match r.lines[p].short {
                    Some(short) => format!(
                        "only {} are held ({short} were cut short by a stocktake that found fewer on the shelf); a commit takes at most what is held",
                        r.lines[p].quantity
                    ),
                    None => format!(
                        "only {} are held; a commit takes at most what is held",
                        r.lines[p].quantity
                    ),
                },
            )),
            Some(p) => out[p] = i64::from(t.quantity),
        }
    }
    if errors.is_empty() && out.iter().all(|q| *q == 0) {
        errors.push(FieldError::new(
            "lines",
            "the order takes no unit; release the reservation instead",
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

impl Reservations {
    /// Gives a hold back before its time (the cart was abandoned). Releasing it again answers
    /// it as released.
    pub async fn release(&self, id: &str, caller: Caller<'_>, now_ms: i64) -> Outcome {
        let actor = caller.subject;
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            let current = match self.get_for(id, caller).await? {
                None => return Err(ReservationError::NotFound(id.to_owned())),
                Some(r) if r.status == Status::Released => return Ok((r, true)),
                Some(r) => r,
            };
            let current = self.check_active(current, now_ms).await?;
            let lines = giving_back(&current.lines, MovementKind::HoldRelease)?;
            match self
                .close(&current, Event::Release, &lines, None, actor, now_ms)
                .await?
            {
                Closed::Done(r) => return Ok((*r, false)),
                Closed::Lost => continue,
                Closed::Conflict | Closed::Reshaped => {
                    tokio::time::sleep(conflict_backoff(attempt)).await
                }
            }
        }
        Err(StoreError::Busy("the reservation kept changing".into()).into())
    }

    /// Turns a hold into a sale recorded as order `order_id` (refunds work against it). `takes`
    /// says how many of each line the order takes (None: everything held); the rest is
    /// released. A retry of the same commit answers it as committed.
    pub async fn commit(
        &self,
        id: &str,
        order_id: &str,
        takes: Option<&[Take]>,
        request_hash: &str,
        caller: Caller<'_>,
        now_ms: i64,
    ) -> Outcome {
        let actor = caller.subject;
        let mut shapes: Option<Vec<CounterShape>> = None;
        let mut conflicts = 0;
        for _ in 0..TRANSACTION_ATTEMPTS + 4 {
            let current = match self.get_for(id, caller).await? {
                None => return Err(ReservationError::NotFound(id.to_owned())),
                Some(r) if r.status == Status::Committed => {
                    if r.commit_hash.as_deref() == Some(request_hash) {
                        return Ok((r, true));
                    }
                    return Err(ReservationError::Closed {
                        id: id.to_owned(),
                        status: r.status,
                    });
                }
                Some(r) => r,
            };
            let current = self.check_active(current, now_ms).await?;
            let taken = taken(&current, takes).map_err(ReservationError::Invalid)?;
            let mut lines = Vec::with_capacity(current.lines.len());
            for (l, take) in current.lines.iter().zip(&taken) {
                let kind = if *take > 0 {
                    MovementKind::Sale
                } else {
                    MovementKind::HoldRelease
                };
                // A line a count cut to nothing changes no level (and takes nothing).
                let change = match l.quantity {
                    0 => LevelChange::Record,
                    _ => LevelChange::Commit {
                        take: *take as u32,
                        held: held(l)?,
                    },
                };
                lines.push(
                    movement_line(l, kind, change)
                        .ok_or_else(|| StoreError::Corrupt("reservation line".into()))?,
                );
            }
            let shapes = shapes.get_or_insert_with(|| vec![CounterShape::Current; lines.len()]);
            let mut committed = current.clone();
            for (l, t) in committed.lines.iter_mut().zip(&taken) {
                l.taken = Some(*t);
            }
            committed.order_id = Some(order_id.to_owned());
            committed.commit_hash = Some(request_hash.to_owned());
            let order = Commit {
                order_id,
                request_hash,
                shapes,
            };
            match self
                .close(
                    &committed,
                    Event::Commit,
                    &lines,
                    Some(order),
                    actor,
                    now_ms,
                )
                .await?
            {
                Closed::Done(r) => return Ok((*r, false)),
                Closed::Lost => continue,
                // Reshaping is not a conflict: the next attempt has what it needs.
                Closed::Reshaped => {}
                Closed::Conflict => {
                    conflicts += 1;
                    if conflicts >= TRANSACTION_ATTEMPTS {
                        break;
                    }
                    tokio::time::sleep(conflict_backoff(conflicts)).await;
                }
            }
        }
        Err(StoreError::Busy("the reservation kept changing".into()).into())
    }

    /// Gives back the stock of a hold whose time ran out (at `now_ms` by the caller's clock).
    /// Ok(false) when it is no longer active or not yet due: someone else closed or extended it.
    pub async fn expire(
        &self,
        id: &str,
        lines: &[ReservedLine],
        actor: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let reservation = Reservation::active(id, lines.to_vec(), now_ms);
        let movement_lines = giving_back(lines, MovementKind::HoldExpire)?;
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            match self
                .close(
                    &reservation,
                    Event::Expire,
                    &movement_lines,
                    None,
                    actor,
                    now_ms,
                )
                .await
            {
                Ok(Closed::Done(_)) => return Ok(true),
                Ok(Closed::Lost) => return Ok(false),
                Ok(Closed::Conflict | Closed::Reshaped) => {
                    tokio::time::sleep(conflict_backoff(attempt)).await
                }
                Err(ReservationError::Movement(MovementError::Store(e))) => return Err(e),
                Err(e) => return Err(StoreError::Failed(e.to_string())),
            }
        }
        Err(StoreError::Busy("the reservation kept changing".into()))
    }

    /// The reservation if it can still change at `now_ms`; otherwise why not. A hold found
    /// past its time is expired on the spot, so its stock does not wait for the sweep.
    pub(super) async fn active(
        &self,
        id: &str,
        caller: Caller<'_>,
        now_ms: i64,
    ) -> Result<Reservation, ReservationError> {
        match self.get_for(id, caller).await? {
            None => Err(ReservationError::NotFound(id.to_owned())),
            Some(r) => self.check_active(r, now_ms).await,
        }
    }

    pub(super) async fn check_active(
        &self,
        r: Reservation,
        now_ms: i64,
    ) -> Result<Reservation, ReservationError> {
        match r.status_at(now_ms) {
            Status::Active => Ok(r),
            Status::Expired => {
                if r.status == Status::Active {
                    if let Err(e) = self
                        .expire(&r.id, &r.lines, crate::reservations::EXPIRY_ACTOR, now_ms)
                        .await
                    {
                        tracing::warn!(reservation = %r.id, error = %e, "expiry on access failed; the sweep will retry");
                    }
                }
                Err(ReservationError::Expired {
                    id: r.id,
                    expires_at: r.expires_at,
                })
            }
            status => Err(ReservationError::Closed { id: r.id, status }),
        }
    }

    /// One closing transaction: the lines' level changes and the reservation's new status,
    /// under the condition that it is still active and (expiry) due or (otherwise) not due.
    pub(super) async fn close(
        &self,
        r: &Reservation,
        event: Event,
        lines: &[MovementLine],
        commit: Option<Commit<'_>>,
        actor: &str,
        now_ms: i64,
    ) -> Result<Closed, ReservationError> {
        let at = rfc3339_millis(now_ms);
        let status = match event {
            Event::Commit => Status::Committed,
            Event::Release => Status::Released,
            _ => Status::Expired,
        };
        let shapes: Vec<CounterShape> = commit
            .as_ref()
            .map(|c| c.shapes.clone())
            .unwrap_or_else(|| vec![CounterShape::Current; lines.len()]);
        let short: Vec<i64> = r.lines.iter().map(|l| l.short.unwrap_or(0)).collect();
        let mut items = self.level_writes((&r.id, event), lines, &shapes, &at, &short);
        let due = if event == Event::Expire {
            "#hu <= :now"
        } else {
            "#hu > :now"
        };
        let mut set = "SET #st = :st, #ca = :at, #cb = :by, #v = #v + :one, #ttl = :ttl".to_owned();
        let still_held: String = (0..r.lines.len())
            .map(|i| format!(" AND #ln[{i}].#q = :q{i}"))
            .collect();
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(keys::key(keys::reservation(&r.id), keys::META)))
            // Holding what was read: a count may have cut the hold short since, and what is
            // given back must be what it still holds.
            .condition_expression(format!("#st = :active AND {due}{still_held}"))
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#ca", "closed_at")
            .expression_attribute_names("#cb", "closed_by")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#ttl", "expires_at")
            .expression_attribute_names("#hu", "hold_until_ms")
            .expression_attribute_names("#xp", keys::EXPIRY_PARTITION_ATTRIBUTE)
            .expression_attribute_names("#xs", keys::EXPIRY_SORT_ATTRIBUTE)
            .expression_attribute_values(":st", s(status.as_str()))
            .expression_attribute_values(":active", s(Status::Active.as_str()))
            .expression_attribute_values(":at", s(&at))
            .expression_attribute_values(":by", s(actor))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":ttl", n(now_ms / 1000 + KEEP_CLOSED_SECONDS))
            .expression_attribute_names("#ln", "lines")
            .expression_attribute_names("#q", "quantity")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (i, l) in r.lines.iter().enumerate() {
            update = update.expression_attribute_values(format!(":q{i}"), n(l.quantity));
        }
        if let Some(c) = &commit {
            set.push_str(", #o = :o, #ch = :ch, #ln = :ln");
            update = update
                .expression_attribute_names("#o", "order_id")
                .expression_attribute_names("#ch", "commit_hash")
                .expression_attribute_values(":o", s(c.order_id))
                .expression_attribute_values(":ch", s(c.request_hash))
                .expression_attribute_values(":ln", lines_attr(&r.lines));
        }
        let update = update
            .update_expression(format!("{set} REMOVE #xp, #xs"))
            .build()
            .expect("table, key and expression are set");
        let reservation_at = items.len();
        items.push(TransactWriteItem::builder().update(update).build());
        if let Some(c) = &commit {
            // The order's line keys, as `domain::order_line_key` spells them.
            let sold: std::collections::BTreeMap<String, i64> = r
                .lines
                .iter()
                .filter_map(|l| {
                    let t = l.taken.filter(|t| *t > 0)?;
                    Some((format!("{}@{}", l.sku, l.location), t))
                })
                .collect();
            let order = OrderItem {
                order_id: c.order_id.to_owned(),
                movement_id: r.id.clone(),
                created_at: at.clone(),
                refundable: sold.clone(),
                sold,
                reservation_id: Some(r.id.clone()),
                owner: Some(r.owner.clone()),
            };
            items.push(put(self.table(), order.to_item(), Some(keys::ABSENT), true));
        }
        let Some(reasons) = self.transact(items).await? else {
            let mut closed = r.clone();
            closed.status = status;
            closed.closed_at = Some(at);
            closed.closed_by = Some(actor.to_owned());
            closed.version += 1;
            return Ok(Closed::Done(Box::new(closed)));
        };
        if reasons.get(reservation_at).is_some_and(failed) {
            return Ok(Closed::Lost);
        }
        if commit.is_some() && reasons.get(reservation_at + 1).is_some_and(failed) {
            return Err(MovementError::OrderExists(
                commit.map(|c| c.order_id.to_owned()).unwrap_or_default(),
            )
            .into());
        }
        // Every level line that failed: a refusal, or (a commit's sale) counters to write in
        // another shape, all learned from this one answer.
        let mut commit = commit;
        let mut reshaped = false;
        for (i, reason) in reasons.iter().enumerate().take(lines.len()) {
            if !failed(reason) {
                continue;
            }
            let shape = self
                .store
                .explain_level(i, &lines[i], reason.item())
                .await?;
            match commit.as_mut() {
                Some(c) => {
                    c.shapes[i] = shape;
                    reshaped = true;
                }
                None => {
                    return Err(StoreError::Corrupt("a release's level refused it".into()).into())
                }
            }
        }
        Ok(if reshaped {
            Closed::Reshaped
        } else {
            Closed::Conflict
        })
    }
}
