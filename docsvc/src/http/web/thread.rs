//! A letter's thread on its page: the letter it answers or passes on, the letters that answer
//! it or pass it on (those the viewer may read), and the links to reply and forward.

use maud::{Markup, html};

use super::i18n::Lang;
use crate::letters::thread::{Linked, Thread};

fn kind(l: Lang, k: &str) -> &'static str {
    match k {
        "reply" => l.t("Balasan", "Reply"),
        _ => l.t("Terusan", "Forward"),
    }
}

fn letter(l: Lang, x: &Linked) -> Markup {
    html! {
        @if x.readable {
            a href=(format!("/ui/letters/{}", x.id)) { (x.nomor) }
            @if let Some(p) = &x.perihal { " · " (p) }
            @if let Some(n) = &x.originator_name { " · " (n) }
        } @else {
            (x.nomor) " " small { (l.t("(tidak dapat Anda buka)", "(not yours to open)")) }
        }
    }
}

pub(super) fn section(l: Lang, id: &str, t: &Thread) -> Markup {
    html! {
        section.thread aria-labelledby="thread-title" {
            h2 #thread-title { (l.t("Alur surat", "Thread")) }
            @if let Some(r) = &t.refers {
                p { (if r.kind == "reply" { l.t("Membalas surat ", "Answers letter ") } else { l.t("Meneruskan surat ", "Passes on letter ") }) (letter(l, r)) }
            }
            @if !t.answers.is_empty() {
                ul { @for a in &t.answers { li { (kind(l, &a.kind)) ": " (letter(l, a)) } } }
            }
            p.actions {
                a.button href=(format!("/ui/compose?reply={id}")) { (l.t("Balas", "Reply")) }
                " "
                a.button.secondary href=(format!("/ui/compose?forward={id}")) { (l.t("Teruskan", "Forward")) }
            }
        }
    }
}
