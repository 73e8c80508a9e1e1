//! policies: the classification policy as data (Cedar policies and the handling table), with
//! every decision explained. Filled in by the policies issue.
#![forbid(unsafe_code)]
