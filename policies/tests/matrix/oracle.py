#!/usr/bin/env python3
"""Writes decisions.tsv: the expected outcome of every clearance x classification x relation x
action x step-up x dual-control case, from the rules in docs/domain.md (#who-may-do-what,
#need-to-know, #step-up, #dual-control, #classification; #decision-matrix says what this covers),
written here by hand and independently of the Cedar policies (this script never calls the engine).

Run it again only when those rules change: python3 oracle.py > decisions.tsv
"""

LEVELS = ["biasa", "terbatas", "rahasia", "sangat_rahasia"]
RELATIONS = ["originator", "recipient", "copy_holder", "same_agency", "other_agency", "auditor", "suspended"]
ACTIONS = ["create", "read", "sign", "send", "receive", "reclassify", "export", "print", "destroy", "audit_read"]
BIASA, TERBATAS, RAHASIA, SANGAT_RAHASIA = range(4)


def expected(clearance, classification, relation, action, step_up, approvals):
    # Suspended or revoked officials can do nothing.
    if relation == "suspended":
        return False
    # Nodes receive, officials do not.
    if action == "receive":
        return False
    # Auditors may read the log but not documents.
    if action == "audit_read":
        return relation == "auditor"
    if relation == "auditor":
        return False
    # No read up: nothing with a document above one's clearance.
    if clearance < classification:
        return False
    # Creating, signing, sending, reclassifying, destroying: the originator's.
    if action in ("create", "sign", "send", "reclassify", "destroy"):
        if relation != "originator":
            return False
        if action == "sign" and not step_up:  # the signing PIN
            return False
        if action == "send" and classification == SANGAT_RAHASIA and approvals < 1:  # dual control
            return False
        return True
    # Reading, exporting, printing: need-to-know. BIASA: any official of the addressed agencies.
    knows = relation in ("originator", "recipient", "copy_holder") or (
        classification == BIASA and relation == "same_agency"
    )
    if not knows:
        return False
    if classification >= RAHASIA and not step_up:  # RAHASIA and above open after the PIN
        return False
    if action == "export" and classification >= RAHASIA:  # no export in plaintext
        return False
    if action == "print" and classification == SANGAT_RAHASIA:  # no printing
        return False
    return True


def main():
    print("clearance\tclassification\trelation\taction\tstep_up\tapprovals\texpected")
    for clearance in range(4):
        for classification in range(4):
            for relation in RELATIONS:
                for action in ACTIONS:
                    for step_up in (True, False):
                        for approvals in (1, 0):
                            outcome = expected(clearance, classification, relation, action, step_up, approvals)
                            print(
                                f"{LEVELS[clearance]}\t{LEVELS[classification]}\t{relation}\t{action}\t"
                                f"{str(step_up).lower()}\t{approvals}\t{'allow' if outcome else 'deny'}"
                            )


if __name__ == "__main__":
    main()
