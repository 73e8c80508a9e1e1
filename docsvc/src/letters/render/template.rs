//! The kinds of naskah dinas the node lays out (tata naskah dinas): surat dinas, nota dinas,
//! surat undangan and surat edaran, each under the agency's kop surat. They differ in their
//! head (a surat names place, date, nomor, sifat, lampiran and perihal, then the addressee;
//! a nota dinas and a surat edaran are titled, the nota's particulars in a table), in the
//! undangan's table of the event, and in where the place and date stand.

use serde::{Deserialize, Serialize};

use super::pdf::{Op, measure};
use super::{LEADING, LEFT, RIGHT, SIZE, Sheets, Surat, tanggal, winansi};
use crate::{Error, Result};

/// Which naskah dinas a letter is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Jenis {
    /// A letter to another office (the default).
    #[default]
    SuratDinas,
    /// A note inside the agency, from one official to another.
    NotaDinas,
    /// An invitation, with the event's day, time, place and programme.
    SuratUndangan,
    /// A circular: a notice to many, titled with what it is about.
    SuratEdaran,
}

impl Jenis {
    pub const ALL: [Jenis; 4] = [
        Jenis::SuratDinas,
        Jenis::NotaDinas,
        Jenis::SuratUndangan,
        Jenis::SuratEdaran,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Jenis::SuratDinas => "surat_dinas",
            Jenis::NotaDinas => "nota_dinas",
            Jenis::SuratUndangan => "surat_undangan",
            Jenis::SuratEdaran => "surat_edaran",
        }
    }

    /// Its name in Indonesian and in English.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Jenis::SuratDinas => ("Surat dinas", "Official letter"),
            Jenis::NotaDinas => ("Nota dinas", "Internal memo"),
            Jenis::SuratUndangan => ("Surat undangan", "Invitation"),
            Jenis::SuratEdaran => ("Surat edaran", "Circular"),
        }
    }
}

/// The event a surat undangan invites to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acara {
    /// The day and date (`Senin, 7 Desember 2026`).
    pub hari: String,
    /// The time (`09.00 WIB s.d. selesai`).
    pub waktu: String,
    /// Where (`Ruang Rapat Lantai 2`).
    pub tempat: String,
    /// What (`Rapat evaluasi imunisasi`).
    pub acara: String,
}

impl Acara {
    /// Each field 1-200 printable characters on one line.
    pub fn check(&self) -> Result<()> {
        for v in [&self.hari, &self.waktu, &self.tempat, &self.acara] {
            if v.trim().is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "acara",
                    "the event's day, time, place and programme: each 1-200 characters on one line",
                ));
            }
        }
        Ok(())
    }
}

/// The kop surat: the organisation, the agency's name and address and contact under it,
/// and the double rule. Without a letterhead, the organisation and the agency's id.
fn kop(sheets: &mut Sheets, s: &Surat<'_>) -> Result<()> {
    sheets.centred(&s.organisation.to_uppercase(), 13.0, true)?;
    match s.kop {
        Some(k) => {
            sheets.centred(&k.name.to_uppercase(), 14.0, true)?;
            for line in k.address.iter().chain(&k.contact) {
                small_centred(sheets, line)?;
            }
        }
        None => sheets.centred(&s.agency.to_uppercase(), 13.0, true)?,
    }
    sheets.gap(6.0);
    for (width, below) in [(2.0, 2.5), (0.6, 0.0)] {
        let y = sheets.y;
        sheets.page().push(Op::Rule {
            x1: LEFT,
            x2: RIGHT,
            y,
            width,
        });
        sheets.gap(below);
    }
    sheets.gap(8.0);
    Ok(())
}

fn small_centred(sheets: &mut Sheets, text: &str) -> Result<()> {
    for t in super::lines(&winansi(text), RIGHT - LEFT, 9.0, false) {
        let x = (LEFT + RIGHT - measure(&t, 9.0, false)) / 2.0;
        sheets.text(x, t, 9.0, false)?;
        sheets.gap(-3.0);
    }
    Ok(())
}

/// Label, colon and wrapped value, as the particulars of a letter are set.
fn particulars(sheets: &mut Sheets, rows: &[(&str, &str)], label_w: f32) -> Result<()> {
    let value_x = LEFT + label_w + 8.0;
    for (label, value) in rows {
        sheets.text(LEFT, winansi(label), SIZE, false)?;
        sheets.gap(-LEADING);
        sheets.text(LEFT + label_w, b":".to_vec(), SIZE, false)?;
        sheets.gap(-LEADING);
        sheets.wrapped(value_x, RIGHT - value_x, value, false)?;
    }
    Ok(())
}

fn addressees(sheets: &mut Sheets, s: &Surat<'_>) -> Result<()> {
    sheets.text(LEFT, b"Yth.".to_vec(), SIZE, false)?;
    for (i, k) in s.kepada.iter().enumerate() {
        let k = if s.kepada.len() > 1 {
            format!("{}. {k}", i + 1)
        } else {
            k.clone()
        };
        sheets.wrapped(LEFT, RIGHT - LEFT, &k, false)?;
    }
    sheets.text(LEFT, b"di tempat".to_vec(), SIZE, false)?;
    sheets.gap(LEADING);
    Ok(())
}

/// The head: the kop, then what the kind of naskah puts before its body.
pub(super) fn head(sheets: &mut Sheets, s: &Surat<'_>, tempat: &str) -> Result<()> {
    kop(sheets, s)?;
    let lampiran = s.naskah.lampiran.as_deref().unwrap_or("-");
    match s.naskah.jenis {
        Jenis::SuratDinas | Jenis::SuratUndangan => {
            let place = winansi(&format!("{tempat}, {}", tanggal(s.dated)));
            let w = measure(&place, SIZE, false);
            sheets.text(RIGHT - w, place, SIZE, false)?;
            sheets.gap(4.0);
            let rows = [
                ("Nomor", s.nomor),
                ("Sifat", s.marking),
                ("Lampiran", lampiran),
                ("Perihal", s.perihal),
            ];
            particulars(sheets, &rows, 62.0)?;
            sheets.gap(LEADING);
            addressees(sheets, s)
        }
        Jenis::NotaDinas => {
            sheets.centred("NOTA DINAS", 13.0, true)?;
            sheets.centred(&format!("NOMOR {}", s.nomor), SIZE, false)?;
            sheets.gap(LEADING / 2.0);
            let kepada = s.kepada.join("; ");
            let tembusan = s.tembusan.join("; ");
            let date = tanggal(s.dated);
            let from = s.signer_position.lines().last().unwrap_or_default();
            let mut rows = vec![("Yth.", kepada.as_str()), ("Dari", from)];
            if !s.tembusan.is_empty() {
                rows.push(("Tembusan", tembusan.as_str()));
            }
            rows.extend([
                ("Tanggal", date.as_str()),
                ("Sifat", s.marking),
                ("Lampiran", lampiran),
                ("Hal", s.perihal),
            ]);
            particulars(sheets, &rows, 62.0)?;
            sheets.gap(4.0);
            let y = sheets.y;
            sheets.page().push(Op::Rule {
                x1: LEFT,
                x2: RIGHT,
                y,
                width: 0.8,
            });
            sheets.gap(LEADING / 2.0);
            Ok(())
        }
        Jenis::SuratEdaran => {
            sheets.centred("SURAT EDARAN", 13.0, true)?;
            sheets.centred(&format!("NOMOR {}", s.nomor), SIZE, false)?;
            sheets.gap(LEADING / 2.0);
            sheets.centred("TENTANG", SIZE, true)?;
            for line in super::lines(
                &winansi(&s.perihal.to_uppercase()),
                RIGHT - LEFT,
                SIZE,
                true,
            ) {
                let x = (LEFT + RIGHT - measure(&line, SIZE, true)) / 2.0;
                sheets.text(x, line, SIZE, true)?;
            }
            sheets.gap(LEADING);
            particulars(
                sheets,
                &[("Sifat", s.marking), ("Lampiran", lampiran)],
                62.0,
            )?;
            sheets.gap(LEADING / 2.0);
            addressees(sheets, s)
        }
    }
}

/// The body's paragraphs; a surat undangan's event table after the paragraph that announces
/// it.
pub(super) fn body(sheets: &mut Sheets, s: &Surat<'_>, tempat: &str) -> Result<()> {
    let text = s.naskah.isi.replace("\r\n", "\n");
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    // The event follows the paragraph that announces it ("... pada:"), else the first.
    let announce = paragraphs
        .iter()
        .position(|p| p.ends_with(':'))
        .unwrap_or(0);
    for (i, paragraph) in paragraphs.iter().enumerate() {
        sheets.wrapped(LEFT, RIGHT - LEFT, paragraph, false)?;
        sheets.gap(LEADING / 2.0);
        if i == announce {
            if let (Jenis::SuratUndangan, Some(a)) = (s.naskah.jenis, &s.naskah.acara) {
                let rows = [
                    ("hari, tanggal", a.hari.as_str()),
                    ("waktu", a.waktu.as_str()),
                    ("tempat", a.tempat.as_str()),
                    ("acara", a.acara.as_str()),
                ];
                let indent = 30.0;
                let value_x = LEFT + indent + 88.0;
                for (label, value) in rows {
                    sheets.text(LEFT + indent, winansi(label), SIZE, false)?;
                    sheets.gap(-LEADING);
                    sheets.text(value_x - 8.0, b":".to_vec(), SIZE, false)?;
                    sheets.gap(-LEADING);
                    sheets.wrapped(value_x, RIGHT - value_x, value, false)?;
                }
                sheets.gap(LEADING / 2.0);
            }
        }
    }
    // A circular is dated where it is signed.
    if s.naskah.jenis == Jenis::SuratEdaran {
        sheets.gap(LEADING / 2.0);
        let x = LEFT + (RIGHT - LEFT) / 2.0 - 10.0;
        let rows = [
            format!("Ditetapkan di {tempat}"),
            format!("pada tanggal {}", tanggal(s.dated)),
        ];
        for r in rows {
            sheets.wrapped(x, RIGHT - x, &r, false)?;
        }
    }
    Ok(())
}

/// Whether the tembusan closes the letter (a nota dinas names it in its head).
pub(super) fn tembusan_at_end(s: &Surat<'_>) -> bool {
    s.naskah.jenis != Jenis::NotaDinas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::letters::render::Naskah;
    use crate::node::letterhead::Kop;

    fn texts(jenis: Jenis, acara: Option<Acara>, kop: Option<&Kop>) -> Vec<String> {
        lines_of(jenis, acara, kop, "Paragraf satu.\n\nParagraf dua.")
    }

    fn texts_of(jenis: Jenis, acara: Option<Acara>, isi: &str) -> Vec<String> {
        lines_of(jenis, acara, None, isi)
    }

    /// The lines the head and body of a letter of `jenis` put on its pages, in order.
    fn lines_of(jenis: Jenis, acara: Option<Acara>, kop: Option<&Kop>, isi: &str) -> Vec<String> {
        let naskah = Naskah {
            isi: isi.into(),
            jenis,
            acara,
            ..Naskah::default()
        };
        let s = Surat {
            organisation: "Pemerintah Kota Contoh",
            agency: "dinkes",
            kop,
            nomor: "005/9/DINKES/2026",
            perihal: "Evaluasi imunisasi",
            marking: "BIASA",
            colour: "#000000",
            kepada: vec!["Kepala Bappeda".into()],
            tembusan: vec!["Inspektur".into()],
            naskah: &naskah,
            dated: time::macros::date!(2026 - 12 - 03),
            signer_name: "Siti Rahmawati",
            signer_position: "a.n. Kepala Dinas Kesehatan\nSekretaris Dinas",
            signer_nip: "198002022005012002",
            verify_url: "https://127.0.0.1/verifikasi/A",
            signed_at: time::OffsetDateTime::now_utc(),
            ca_certs: vec![],
            crls: vec![],
            approval: false,
        };
        let mut sheets = Sheets::new();
        head(&mut sheets, &s, "Bandung").expect("head");
        body(&mut sheets, &s, "Bandung").expect("body");
        sheets
            .pages
            .iter()
            .flatten()
            .filter_map(|op| match op {
                Op::Text { text, .. } => Some(String::from_utf8_lossy(text).into_owned()),
                Op::Rule { .. } => None,
            })
            .collect()
    }

    fn at(lines: &[String], part: &str) -> usize {
        lines
            .iter()
            .position(|l| l.contains(part))
            .unwrap_or_else(|| panic!("{part:?} in {lines:?}"))
    }

    #[test]
    fn each_kind_has_its_head_under_the_letterhead() {
        let kop = Kop {
            name: "Dinas Kesehatan".into(),
            address: vec!["Jalan Merdeka Nomor 1".into()],
            contact: Some("Laman dinkes.kota.example".into()),
        };
        let dinas = texts(Jenis::SuratDinas, None, Some(&kop));
        assert!(at(&dinas, "PEMERINTAH KOTA CONTOH") < at(&dinas, "DINAS KESEHATAN"));
        assert!(at(&dinas, "DINAS KESEHATAN") < at(&dinas, "Jalan Merdeka"));
        assert!(at(&dinas, "Laman dinkes") < at(&dinas, "Bandung, 3 Desember 2026"));
        assert!(at(&dinas, "Perihal") < at(&dinas, "Yth.") && at(&dinas, "di tempat") > 0);
        assert!(!dinas.iter().any(|l| l.contains("NOTA DINAS")));

        let nota = texts(Jenis::NotaDinas, None, Some(&kop));
        assert!(at(&nota, "NOTA DINAS") < at(&nota, "NOMOR 005/9/DINKES/2026"));
        assert_eq!(nota[at(&nota, "Dari") + 2], "Sekretaris Dinas", "{nota:?}");
        assert!(at(&nota, "Tembusan") < at(&nota, "Hal"));
        assert!(!nota.iter().any(|l| l.contains("di tempat")));

        let acara = Acara {
            hari: "Senin, 7 Desember 2026".into(),
            waktu: "09.00 WIB".into(),
            tempat: "Ruang Rapat".into(),
            acara: "Evaluasi".into(),
        };
        let undangan = texts(Jenis::SuratUndangan, Some(acara.clone()), Some(&kop));
        let first = at(&undangan, "Paragraf satu.");
        assert!(first < at(&undangan, "hari, tanggal"));
        assert!(at(&undangan, "Ruang Rapat") < at(&undangan, "Paragraf dua."));
        let mut announced = texts_of(
            Jenis::SuratUndangan,
            Some(acara),
            "Dengan hormat,\n\nkami mengundang pada:\n\nDemikian.",
        );
        announced.retain(|l| l != ":");
        let i = at(&announced, "mengundang pada:");
        assert_eq!(announced[i + 1], "hari, tanggal", "{announced:?}");

        let edaran = texts(Jenis::SuratEdaran, None, None);
        assert!(
            at(&edaran, "DINKES") < at(&edaran, "SURAT EDARAN"),
            "no letterhead: the id"
        );
        assert!(at(&edaran, "TENTANG") < at(&edaran, "EVALUASI IMUNISASI"));
        assert!(at(&edaran, "Paragraf dua.") < at(&edaran, "Ditetapkan di Bandung"));
        assert!(at(&edaran, "Ditetapkan di") < at(&edaran, "pada tanggal 3 Desember 2026"));
    }

    #[test]
    fn a_long_letterhead_wraps_within_the_page() {
        let kop = Kop {
            name: "Dinas Pemberdayaan Perempuan, Perlindungan Anak, Pengendalian Penduduk dan \
                   Keluarga Berencana"
                .into(),
            address: vec!["Jalan ".repeat(20)],
            contact: None,
        };
        let naskah = Naskah {
            isi: "Isi.".into(),
            ..Naskah::default()
        };
        let s = Surat {
            organisation: "Pemerintah Kota Contoh",
            agency: "dp3akb",
            kop: Some(&kop),
            nomor: "1",
            perihal: "Uji",
            marking: "BIASA",
            colour: "#000000",
            kepada: vec![],
            tembusan: vec![],
            naskah: &naskah,
            dated: time::macros::date!(2026 - 12 - 03),
            signer_name: "A",
            signer_position: "B",
            signer_nip: "1",
            verify_url: "https://127.0.0.1/verifikasi/A",
            signed_at: time::OffsetDateTime::now_utc(),
            ca_certs: vec![],
            crls: vec![],
            approval: false,
        };
        let mut sheets = Sheets::new();
        kop_of(&mut sheets, &s);
        let mut lines = 0;
        for op in sheets.pages.iter().flatten() {
            if let Op::Text {
                x,
                text,
                size,
                bold,
                ..
            } = op
            {
                lines += 1;
                assert!(*x >= LEFT - 0.01, "{}", String::from_utf8_lossy(text));
                assert!(x + measure(text, *size, *bold) <= RIGHT + 0.01);
            }
        }
        assert!(lines > 4, "the name and the address take two lines each");
    }

    fn kop_of(sheets: &mut Sheets, s: &Surat<'_>) {
        kop(sheets, s).expect("kop");
    }

    #[test]
    fn only_an_invitation_names_an_event_and_its_fields_are_bounded() {
        let a = Acara {
            hari: "Senin".into(),
            waktu: "09.00".into(),
            tempat: "Ruang".into(),
            acara: "Rapat".into(),
        };
        let n = |jenis, acara| Naskah {
            isi: "Isi".into(),
            jenis,
            acara,
            ..Naskah::default()
        };
        assert!(n(Jenis::SuratUndangan, Some(a.clone())).check().is_ok());
        assert!(n(Jenis::NotaDinas, Some(a.clone())).check().is_err());
        let long = Acara {
            acara: "x".repeat(201),
            ..a.clone()
        };
        assert!(n(Jenis::SuratUndangan, Some(long)).check().is_err());
        let broken = Acara {
            hari: "Senin\nSelasa".into(),
            ..a
        };
        assert!(n(Jenis::SuratUndangan, Some(broken)).check().is_err());
    }
}
