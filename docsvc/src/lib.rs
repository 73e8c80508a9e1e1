//! docsvc: the document service a node of the sandi network runs. Filled in by the docsvc
//! issue.
#![forbid(unsafe_code)]
