//! The agencies' registers (tata naskah dinas): an outgoing letter takes its nomor from its
//! agency's register when it is signed; an incoming letter is entered in each receiving
//! agency's agenda when it reaches their inboxes. The secretariat (role `sekretaris`) lists,
//! searches and exports its own agency's registers.

use policies::Level;

use crate::audit::Entry;
use crate::crypto::envelope::Manifest;
use crate::node::Node;
use crate::node::numbering::{Day, check_kode};
use crate::officials::directory::{self, Official};
use crate::store::Tx;
use crate::store::registers::{self, AGENDA, OUTGOING, Place, Row};
use crate::store::script::{self, Script};
use crate::{Error, Result, now_rfc3339};

/// A number taken for a letter about to be signed.
#[derive(Clone, Debug)]
pub struct Reserved {
    pub row: Row,
}

/// The nomor of a new letter by `signer`: the one it brings where the node allows that, or
/// the next of the signer's agency's register (committed at once as reserved, because the
/// number is printed on the letter before the letter's own transaction).
pub async fn number(
    node: &Node,
    signer: &Official,
    given: &str,
    kode: Option<&str>,
) -> Result<(String, Option<Reserved>)> {
    let numbering = &node.config.numbering;
    let given = given.trim();
    if !given.is_empty() {
        if numbering.register_only {
            return Err(Error::invalid(
                "nomor",
                "this node numbers letters from the agency's register: leave nomor out and give kode",
            ));
        }
        return Ok((given.to_owned(), None));
    }
    let kode = kode.map(str::trim).unwrap_or_default();
    if numbering.needs_kode() {
        check_kode(kode).map_err(|e| Error::invalid("kode", e))?;
    }
    let day = Day::today();
    let mut tx = node.store.begin().await?;
    let place = registers::next(&mut tx, &signer.agency, OUTGOING, day.year()).await?;
    let row = Row {
        number: numbering.outgoing(&signer.agency, kode, place.seq, day),
        place,
        state: "reserved".into(),
        document_id: None,
        nip: signer.nip.clone(),
        at: now_rfc3339(),
    };
    if row.number.chars().count() > 100 {
        return Err(Error::invalid(
            "kode",
            "the register's number would pass 100 characters",
        ));
    }
    // A number a stored letter already carries is being given again: the counter was set back
    // (a database writer cutting the newest entries). Refused, never printed twice.
    if registers::carried(&mut tx, &row.place).await? {
        // Rolled back first: the incident's log entry needs the writer.
        drop(tx);
        return Err(set_back(node, &row).await);
    }
    registers::insert(&mut tx, &node.store, &row).await?;
    tx.commit().await?;
    Ok((row.number.clone(), Some(Reserved { row })))
}

/// Marks `reserved` used by letter `id` inside the letter's transaction: a number voided
/// meanwhile (the sweep took the letter for abandoned) fails the letter.
pub async fn use_number(node: &Node, tx: &mut Tx, reserved: &Reserved, id: &str) -> Result<()> {
    // Inside the letter's transaction no incident can be logged (SQLite's one writer): the
    // number taken in `number` was checked then; this is the database's last word.
    if !registers::carry(tx, &reserved.row.place, id).await? {
        return Err(Error::Integrity(format!(
            "nomor {} is carried by another stored letter",
            reserved.row.number
        )));
    }
    if registers::settle(tx, &node.store, &reserved.row, "used", Some(id)).await? {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "nomor {} was voided before the letter was stored; sign it again",
            reserved.row.number
        )))
    }
}

/// Voids a number whose letter will not be stored; the register keeps it as void.
pub async fn void(node: &Node, reserved: &Reserved) {
    let done = async {
        let mut c = node.store.pool().acquire().await?;
        registers::settle(&mut c, &node.store, &reserved.row, "void", None).await
    };
    if let Err(e) = done.await {
        tracing::warn!(nomor = %reserved.row.number, error = %e, "could not void a reserved number");
    }
}

/// Voids numbers reserved before `before` whose letters never came (a stopped process, a
/// dropped upload). A row whose MAC fails is left as it is, and reported: voiding it would
/// seal what a database writer made.
pub async fn void_stale(node: &Node, before: &str) -> Result<u64> {
    if !node.store.integrity().has_key() {
        return Ok(0);
    }
    let mut voided = 0;
    let mut first_forged = None;
    for (row, mac) in registers::reserved_before(&node.store, before).await? {
        // Forged, or set back from used: a letter carries the number. Reported, not sealed.
        let mut c = node.store.pool().acquire().await?;
        // A letter that committed its number since the read above is no set-back.
        let carried = registers::carried(&mut c, &row.place).await?
            && registers::unchanged(&mut c, &row, &mac).await?;
        if carried || !registers::holds(&node.store, &row, &mac)? {
            first_forged.get_or_insert((row, carried));
            continue;
        }
        if registers::settle(&mut c, &node.store, &row, "void", None).await? {
            voided += 1;
        }
    }
    // Once per sweep, however many rows a writer made.
    match first_forged {
        Some((row, true)) => drop(set_back(node, &row).await),
        Some((row, false)) => drop(forged(node, &row).await),
        None => {}
    }
    Ok(voided)
}

/// The integrity incident of a number a stored letter already carries, met again as new or
/// reserved: the register was set back in the database.
async fn set_back(node: &Node, row: &Row) -> Error {
    let what = format!(
        "number {} is already carried by a stored letter (the register was set back in the database)",
        row.place.seq
    );
    incident(node, &row.place, &what).await
}

/// The integrity incident of a register entry that does not carry the node's MAC.
async fn forged(node: &Node, row: &Row) -> Error {
    let what = format!(
        "entry {} does not carry the node's MAC (changed or forged in the database)",
        row.place.seq
    );
    incident(node, &row.place, &what).await
}

/// Logs an integrity incident about the register at `place` and returns the error to refuse
/// with.
async fn incident(node: &Node, place: &Place, what: &str) -> Error {
    node.store
        .integrity()
        .incident(
            &format!("register:{}:{}", place.agency, place.book),
            &format!(
                "register {} of {}, {}: {what}",
                place.book, place.agency, place.year
            ),
        )
        .await
}

/// The agencies of this node's officials among `nips` (as their MAC-checked rows say).
pub async fn local_agencies(
    node: &Node,
    nips: impl Iterator<Item = &String>,
) -> Result<Vec<String>> {
    let mut agencies = Vec::new();
    for nip in nips {
        if crate::network::remote_address(nip).is_none()
            && let Some(o) = directory::get(&node.store, nip).await?
        {
            agencies.push(o.agency);
        }
    }
    Ok(agencies)
}

/// Enters letter `m` in the agenda of each of `agencies` but the sender's own.
pub async fn enter_agenda<'s>(
    tx: &mut Tx,
    node: &Node,
    agencies: impl IntoIterator<Item = &'s str>,
    m: &Manifest,
) -> Result<()> {
    let mut s = Script::new();
    let agenda = Agenda::take(&mut s, agencies, m);
    let rows = s.run(tx).await?;
    let mut s = Script::new();
    agenda.enter(&mut s, node, &rows)?;
    s.run(tx).await.map(drop)
}

/// A letter's entries in agendas, in two steps of a transaction's statements: their numbers
/// taken (`take`), then the entries written with them (`enter`, whose rows carry the node's
/// MAC over the number).
#[derive(Debug)]
pub struct Agenda {
    agencies: Vec<String>,
    day: Day,
    id: String,
    from: String,
}

impl Agenda {
    /// Takes the next agenda number of each of `agencies` but the sender's own, as
    /// statements of `s` (one row each, in order).
    pub fn take<'s>(
        s: &mut Script,
        agencies: impl IntoIterator<Item = &'s str>,
        m: &Manifest,
    ) -> Self {
        let mut agencies: Vec<String> = agencies
            .into_iter()
            .filter(|a| *a != m.agency)
            .map(str::to_owned)
            .collect();
        agencies.sort_unstable();
        agencies.dedup();
        let day = Day::today();
        for agency in &agencies {
            registers::push_next(s, agency, AGENDA, day.year());
        }
        Agenda {
            agencies,
            day,
            id: m.id.clone(),
            from: m.originator.clone(),
        }
    }

    /// Writes the entries, as statements of `s`, with the numbers `rows` (what the
    /// statements of [`Agenda::take`] gave) hold.
    pub fn enter(self, s: &mut Script, node: &Node, rows: &[script::Row]) -> Result<()> {
        let seqs = registers::seqs(rows)?;
        if seqs.len() != self.agencies.len() {
            return Err(Error::Invariant {
                what: "every agenda taken gives one number",
            });
        }
        let at = now_rfc3339();
        for (agency, seq) in self.agencies.into_iter().zip(seqs) {
            let row = Row {
                number: node.config.numbering.agenda(&agency, seq, self.day),
                place: Place {
                    agency,
                    book: AGENDA,
                    year: self.day.year(),
                    seq,
                },
                state: "entered".into(),
                document_id: Some(self.id.clone()),
                nip: self.from.clone(),
                at: at.clone(),
            };
            registers::push_insert(s, &node.store, &row)?;
        }
        Ok(())
    }
}

/// Which register to read.
pub fn book(name: &str) -> Result<&'static str> {
    match name {
        OUTGOING => Ok(OUTGOING),
        AGENDA => Ok(AGENDA),
        _ => Err(Error::invalid(
            "book",
            "the registers are keluar (outgoing numbers) and agenda (incoming letters)",
        )),
    }
}

/// What a reader asks of a register.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    pub year: Option<i64>,
    pub search: String,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// One line as a reader sees it: a letter above the reader's clearance shows no perihal.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Line {
    pub seq: i64,
    /// The register's number: the nomor (keluar) or the agenda number.
    pub number: String,
    /// `reserved`, `used` or `void` (keluar); `entered` (agenda).
    pub state: String,
    pub at: String,
    /// The signer (keluar) or the letter's originator (agenda).
    pub nip: String,
    pub document_id: Option<String>,
    /// The letter's own nomor (for the agenda: the sender's number).
    pub nomor: Option<String>,
    /// Absent when the letter is above the reader's clearance.
    pub perihal: Option<String>,
    pub classification: Option<String>,
}

/// The lines of `agency`'s `book` that `reader` asked for, newest first. Only the agency's
/// own secretariat reads them; each reading, allowed or refused, is logged.
pub async fn read(
    node: &Node,
    reader: &Official,
    client: Option<String>,
    agency: &str,
    book: &'static str,
    ask: &Ask,
) -> Result<Vec<Line>> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let allowed = reader.has_role("sekretaris") && reader.agency == agency;
    let year = ask.year.unwrap_or_else(|| Day::today().year());
    crate::node::log_alone(
        node,
        &Entry::event(
            format!("official:{}", reader.nip),
            "register_read",
            if allowed { "allow" } else { "deny" },
            if allowed {
                format!("register {book} of {agency}, {year}")
            } else {
                format!("register {book} of {agency}: only that agency's secretariat reads it")
            },
            node.policy.current().version(),
            client,
        ),
    )
    .await?;
    if !allowed {
        return Err(Error::Forbidden {
            alasan: "ditolak: hanya sekretariat instansi ini yang membaca registernya".into(),
            reason: "denied: only the agency's own secretariat reads its registers".into(),
            policies: vec![],
        });
    }
    let search = ask.search.trim().to_lowercase();
    let visible: Vec<&str> = Level::ALL
        .iter()
        .filter(|l| **l <= reader.clearance)
        .map(|l| l.as_str())
        .collect();
    if search.chars().count() > 100 {
        return Err(Error::invalid("q", "search for at most 100 characters"));
    }
    let limit = ask.limit.unwrap_or(100).clamp(1, 1000);
    // The counter before the lines: whatever the lines add was committed after it.
    let last = registers::last(&node.store, agency, book, year).await?;
    let lines = registers::list(
        &node.store,
        &registers::Query {
            agency,
            book,
            year,
            search: &search,
            visible: &visible,
            before: ask.before,
            limit,
        },
    )
    .await?;
    for l in &lines {
        if !registers::holds(&node.store, &l.row, &l.mac)? {
            return Err(forged(node, &l.row).await);
        }
    }
    if search.is_empty()
        && let Some(seq) = gap(&lines, last, ask.before, limit)
    {
        let place = Place {
            agency: agency.to_owned(),
            book,
            year,
            seq,
        };
        let what = format!("entry {seq} is missing (deleted in the database)");
        return Err(incident(node, &place, &what).await);
    }
    Ok(lines
        .into_iter()
        .map(|l| {
            let visible = l
                .classification
                .as_deref()
                .and_then(|c| c.parse::<Level>().ok())
                .is_some_and(|c| c <= reader.clearance);
            Line {
                seq: l.row.place.seq,
                number: l.row.number,
                state: l.row.state,
                at: l.row.at,
                nip: l.row.nip,
                document_id: l.row.document_id,
                nomor: l.nomor,
                perihal: l.perihal.filter(|_| visible),
                classification: l.classification,
            }
        })
        .collect())
}

/// The first number missing from an unfiltered page of lines (newest first), if any: the
/// page starts at the counter (or below the cursor), runs without a hole, and a short page
/// ends at 1.
fn gap(lines: &[registers::Line], last: i64, before: Option<i64>, limit: i64) -> Option<i64> {
    let top = before.map_or(last, |b| b.saturating_sub(1).min(last));
    let mut want = top;
    for l in lines {
        let seq = l.row.place.seq;
        // Above the counter read first: committed since, and above every cursor.
        if seq > want && l.row.place.seq > top {
            want = seq;
        }
        if seq != want {
            return Some(want);
        }
        want -= 1;
    }
    let short = i64::try_from(lines.len()).unwrap_or(i64::MAX) < limit;
    (short && want >= 1).then_some(want)
}

/// One CSV cell: quoted, and a leading `=`, `+`, `-`, `@` made inert so that a spreadsheet
/// never runs a perihal as a formula.
fn cell(v: &str) -> String {
    let inert = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    format!("\"{}\"", inert.replace('"', "\"\""))
}

/// The lines as CSV (RFC 4180), with a header row.
pub fn csv(lines: &[Line]) -> String {
    let mut out =
        String::from("urut,nomor_register,status,waktu,nip,naskah,nomor_naskah,perihal,sifat\r\n");
    for l in lines {
        let row = [
            l.seq.to_string(),
            l.number.clone(),
            l.state.clone(),
            l.at.clone(),
            l.nip.clone(),
            l.document_id.clone().unwrap_or_default(),
            l.nomor.clone().unwrap_or_default(),
            l.perihal.clone().unwrap_or_default(),
            l.classification.clone().unwrap_or_default(),
        ];
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let line = Line {
            seq: 1,
            number: "005/1/DINKES/2026".into(),
            state: "used".into(),
            at: "2026-11-30T00:00:00Z".into(),
            nip: "197501012000031001".into(),
            document_id: Some("d".into()),
            nomor: None,
            perihal: Some("=HYPERLINK(\"http://x\",\"klik\")".into()),
            classification: Some("biasa".into()),
        };
        let text = csv(&[line]);
        assert!(text.starts_with("urut,"));
        assert!(
            text.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"klik\"\")\""),
            "{text}"
        );
        assert!(text.ends_with("\r\n"));
    }
}
