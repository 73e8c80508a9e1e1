//! `[numbering]` in `node.toml`: how each agency numbers its outgoing letters (nomor surat)
//! and its incoming agenda, and the numbers made from those patterns.
//!
//! ```toml
//! [numbering]
//! pattern = "{kode}/{urut}/{unit}/{tahun}"   # 005/17/DINKES/2026
//! agenda = "{urut}/AGENDA/{unit}/{tahun}"
//! register_only = true                     # a letter may not bring its own nomor
//! [numbering.units]
//! dinkes = "DINKES"                        # the agency's code in numbers (default: upper-case)
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, UtcOffset};

/// The words a pattern may use.
const TOKENS: [&str; 5] = ["{kode}", "{urut}", "{unit}", "{bulan}", "{tahun}"];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Numbering {
    /// Outgoing letters: `{kode}` (the archive classification code given with the letter),
    /// `{urut}` (the sequence, from 1 each year), `{unit}`, `{bulan}` (Roman), `{tahun}`.
    pub pattern: String,
    /// Incoming letters' agenda numbers, from the same words but `{kode}`.
    pub agenda: String,
    /// Each agency's code in numbers; an agency not named uses its id in upper case.
    pub units: BTreeMap<String, String>,
    /// Whether every outgoing letter takes its number from the register. Otherwise a letter
    /// that brings a nomor (numbered by hand or by another system) keeps it, outside the
    /// register, and one that brings none is numbered.
    pub register_only: bool,
}

impl Default for Numbering {
    fn default() -> Self {
        Numbering {
            pattern: "{kode}/{urut}/{unit}/{tahun}".into(),
            agenda: "{urut}/AGENDA/{unit}/{tahun}".into(),
            units: BTreeMap::new(),
            register_only: false,
        }
    }
}

/// Where and when a number is made: the agency and the day in Western Indonesia (WIB),
/// whose year is the register's year.
#[derive(Clone, Copy, Debug)]
pub struct Day(pub Date);

impl Day {
    /// Today in WIB (UTC+7), where the city's registers are kept.
    pub fn today() -> Self {
        let wib = UtcOffset::from_hms(7, 0, 0).unwrap_or(UtcOffset::UTC);
        Day(OffsetDateTime::now_utc().to_offset(wib).date())
    }

    pub fn year(self) -> i64 {
        i64::from(self.0.year())
    }
}

fn roman(month: time::Month) -> &'static str {
    [
        "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
    ]
    .get(usize::from(u8::from(month)).saturating_sub(1))
    .copied()
    .unwrap_or("?")
}

/// Checks an archive classification code (kode klasifikasi arsip, e.g. `005` or `800.1.2`).
pub fn check_kode(kode: &str) -> Result<(), String> {
    let ok = (1..=20).contains(&kode.len())
        && kode.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        && kode
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err("kode is 1-20 letters, digits and dots, e.g. 005 or 800.1.2".into())
    }
}

impl Numbering {
    pub(super) fn is_default(&self) -> bool {
        *self == Numbering::default()
    }

    /// What `node.toml` may not say: a pattern with a word it does not know, without the
    /// sequence or the year (numbers are unique per agency and year), or an over-long unit.
    pub fn check(&self) -> Result<(), String> {
        for (name, p, kode) in [
            ("pattern", &self.pattern, true),
            ("agenda", &self.agenda, false),
        ] {
            let mut rest = p.clone();
            for t in TOKENS {
                if t != "{kode}" || kode {
                    rest = rest.replace(t, "");
                }
            }
            if rest.contains(['{', '}']) || p.chars().any(char::is_control) || p.len() > 100 {
                return Err(format!(
                    "[numbering] {name}: only {{kode}} (outgoing), {{urut}}, {{unit}}, {{bulan}} and {{tahun}}, at most 100 characters"
                ));
            }
            if !p.contains("{urut}") || !p.contains("{tahun}") {
                return Err(format!(
                    "[numbering] {name} must hold {{urut}} and {{tahun}}: numbers are unique per agency and year"
                ));
            }
        }
        for (agency, unit) in &self.units {
            if unit.is_empty()
                || unit.len() > 30
                || unit.chars().any(|c| c.is_control() || c == '{')
            {
                return Err(format!(
                    "[numbering.units] {agency}: 1-30 characters, no braces"
                ));
            }
        }
        Ok(())
    }

    /// Whether outgoing numbers need the letter's archive classification code.
    pub fn needs_kode(&self) -> bool {
        self.pattern.contains("{kode}")
    }

    fn unit(&self, agency: &str) -> String {
        self.units
            .get(agency)
            .cloned()
            .unwrap_or_else(|| agency.to_uppercase())
    }

    fn fill(&self, pattern: &str, agency: &str, kode: &str, seq: i64, day: Day) -> String {
        pattern
            .replace("{kode}", kode)
            .replace("{urut}", &seq.to_string())
            .replace("{unit}", &self.unit(agency))
            .replace("{bulan}", roman(day.0.month()))
            .replace("{tahun}", &day.0.year().to_string())
    }

    /// The nomor of `agency`'s outgoing letter number `seq`, coded `kode`, on `day`.
    pub fn outgoing(&self, agency: &str, kode: &str, seq: i64, day: Day) -> String {
        self.fill(&self.pattern, agency, kode, seq, day)
    }

    /// The agenda number of `agency`'s incoming letter `seq` on `day`.
    pub fn agenda(&self, agency: &str, seq: i64, day: Day) -> String {
        self.fill(&self.agenda, agency, "", seq, day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> Day {
        Day(Date::from_calendar_date(2026, time::Month::November, 30).expect("date"))
    }

    #[test]
    fn numbers_follow_the_pattern() {
        let mut n = Numbering::default();
        assert_eq!(n.outgoing("dinkes", "005", 17, day()), "005/17/DINKES/2026");
        assert_eq!(n.agenda("bappeda", 3, day()), "3/AGENDA/BAPPEDA/2026");
        n.pattern = "{kode}/{urut}/{unit}/{bulan}/{tahun}".into();
        n.units.insert("dinkes".into(), "Dinkes.2".into());
        assert_eq!(
            n.outgoing("dinkes", "800.1", 9, day()),
            "800.1/9/Dinkes.2/XI/2026"
        );
        assert!(n.check().is_ok());
    }

    #[test]
    fn patterns_that_cannot_number_are_refused() {
        for (pattern, agenda) in [
            ("{kode}/{urut}", "{urut}/{tahun}"),
            ("{kode}/{tahun}", "{urut}/{tahun}"),
            ("{kode}/{urut}/{nip}/{tahun}", "{urut}/{tahun}"),
            ("{urut}/{tahun}", "{kode}/{urut}/{tahun}"),
            ("{urut}/{tahun}", "{urut}"),
        ] {
            let n = Numbering {
                pattern: pattern.into(),
                agenda: agenda.into(),
                ..Numbering::default()
            };
            assert!(n.check().is_err(), "{pattern} / {agenda}");
        }
        let mut n = Numbering::default();
        n.units.insert("dinkes".into(), "{urut}".into());
        assert!(n.check().is_err());
    }

    #[test]
    fn kode_is_an_archive_code() {
        for ok in ["005", "800.1.2", "KU"] {
            assert!(check_kode(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".005", "005/1", "0 5", "{urut}", &"1".repeat(21)] {
            assert!(check_kode(bad).is_err(), "{bad}");
        }
    }
}
