"""Quality records for tests: a destruction request, a stop-sale notice and a recall on their own lots."""
from gsp import quality as q


def quality_url_args(world) -> dict:
    qm = world.actor("quality_manager")
    red = world.lot("PLAIN", qty=12)
    q.declare_nonconforming(world.session, qm, red.id, reason="suspected_quality", note="破损")
    destruction = q.request_destruction(world.session, qm, red.id, quantity=5, method="焚烧", reason="破损")
    stopped = world.lot("PLAIN", qty=6)
    stop = q.issue_sale_stop(world.session, qm, drug_id=world.drug["PLAIN"].id, lot_no=stopped.lot_no,
                             reason="停售通知")
    recalled = world.lot("INSULIN", qty=4, location="C01")
    recall = q.issue_recall(world.session, qm, drug_id=world.drug["INSULIN"].id, lot_nos=[recalled.lot_no], level=2,
                            reason="召回通知")
    return {"destruction_id": destruction.id, "stop_id": stop.id, "recall_id": recall.id}
