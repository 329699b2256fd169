"""Cordons we own: when to cordon, and when to release (DESIGN §3 "Cordon ownership").

Pure. We cordon with the annotation `repairman.k8s.io/cordoned-by: <request>` (and
`cordoned-by-uid: <its uid>`: a request deleted and filed again under its name, by
another actor say, is another request and the cordon is not its) and uncordon only a
node whose annotation names a request that is finished or gone:

1. Cordon (preparation, step 1): a node that is schedulable, or that we cordoned for a
   request that is over (taken over, so that the old request's release does not
   uncordon this drain). Someone else's cordon is left alone.
2. Release with the request: a request that becomes terminal in this plan uncordons
   its node if the annotation names it.
3. The orphan rule, at the end of the pass: every node whose annotation names a
   request that is not active (finished, or no longer listed) is uncordoned.
4. A claim nobody stands behind: a node someone else uncordoned while its request is
   still active keeps our annotation; it is dropped (annotation only), so that a cordon
   someone makes later is theirs and is not lifted when the request ends.

Neither release touches a node another active request holds: its work may rely on
the cordon (DESIGN §4, invariant 8). The cordon stays until that request is over
too, and the orphan rule releases it then.

The runner re-checks ownership on the fresh node at write time (runner/apply.py).
"""

from __future__ import annotations

from policy.decisions import Cordon, Uncordon
from policy.model import TargetType
from policy.pass_state import PassState
from policy.validation import Target


def needs_cordon(state: PassState, *, node: str, request: str) -> bool:
    owner = state.cordon_owner.get(node)
    if state.owns(node, request):
        # Ours already; cordon again only if someone uncordoned it meanwhile.
        return not state.unschedulable.get(node, False)
    if not state.unschedulable.get(node, False):
        return True
    # Unschedulable: leave someone else's cordon alone, but take over one we made for
    # a request that is over (or gone, its name filed again), so that its release does
    # not uncordon this drain.
    return owner is not None and not state.owner_active_on(node)


def cordon(state: PassState, *, node: str, request: str) -> None:
    """Step 1: cordon `node` for `request` when it needs it."""
    if not needs_cordon(state, node=node, request=request):
        return
    listed = state.index.by_name.get(request)
    uid = listed.uid if listed is not None else ""
    state.decisions.append(Cordon(node=node, request=request, uid=uid))
    state.unschedulable[node] = True
    state.touched_nodes.add(node)
    state.cordon_owner[node] = request
    state.cordon_uid[node] = uid


def release_with(state: PassState, *, request: str, target: Target | None, why: str) -> None:
    """Step 2: `request` is over; uncordon its node if our annotation names it."""
    if target is None or target.type is not TargetType.NODE:
        return
    node = target.name
    if not state.owns(node, request):
        return
    held = _held_by_another(state, node=node, owner=request)
    uid = state.cordon_uid.pop(node, "")
    del state.cordon_owner[node]
    if not held:
        _uncordon(state, node=node, request=request, uid=uid, why=why)


def release_orphans(state: PassState) -> None:
    """Step 3: uncordon every node cordoned for a request that is not active."""
    for node, owner in sorted(state.cordon_owner.items()):
        if state.owner_active_on(node):
            continue
        if _held_by_another(state, node=node, owner=owner):
            _reclaim(state, node=node, owner=owner)
            continue
        final = state.final_state.get(owner)
        if owner not in state.index.by_name:
            why = f"{owner} no longer exists"
        elif not state.owns(node, owner):
            why = f"{owner} no longer exists (another request was filed under its name)"
        else:
            why = f"{owner} is {final.value if final else 'not active'}"
        _uncordon(state, node=node, request=owner, uid=state.cordon_uid.get(node, ""), why=why)
    state.cordon_owner = {
        node: owner for node, owner in state.cordon_owner.items() if state.owner_active_on(node)
    }
    for node, owner in sorted(state.cordon_owner.items()):
        if not state.unschedulable.get(node, False):
            # Step 4: uncordoned by someone else while the request is active.
            state.decisions.append(
                Uncordon(
                    node=node,
                    request=owner,
                    reason=f"uncordoned by someone else while {owner} is active; claim dropped",
                    unschedulable=False,
                    uid=state.cordon_uid.get(node, ""),
                )
            )
            state.touched_nodes.add(node)
            del state.cordon_owner[node]
            state.cordon_uid.pop(node, None)


def _held_by_another(state: PassState, *, node: str, owner: str) -> bool:
    """Is `node` the target of an active request other than the very one our annotation
    names: another name, or the same name under another uid (filed again, or a uid left
    stale by hand)? Its work may rely on the cordon (DESIGN §4, invariant 8)."""
    holder = state.holder.get(Target(TargetType.NODE, node).key)
    if holder is None or not state.owner_active(holder):
        return False
    return holder != owner or not state.owns(node, owner)


def _reclaim(state: PassState, *, node: str, owner: str) -> None:
    """The node is cordoned under `owner`'s name, and an active request of that name
    holds it, but the annotation's uid is another's: the cordon is that request's now
    (it relies on it); write its uid, so that its end releases the node."""
    listed = state.index.by_name.get(owner)
    if listed is None or state.holder.get(Target(TargetType.NODE, node).key) != owner:
        return
    if not state.unschedulable.get(node, False):
        return  # uncordoned by someone else: Step 4 drops the claim
    state.decisions.append(Cordon(node=node, request=owner, uid=listed.uid))
    state.touched_nodes.add(node)
    state.cordon_uid[node] = listed.uid


def _uncordon(state: PassState, *, node: str, request: str, uid: str, why: str) -> None:
    state.decisions.append(
        Uncordon(
            node=node,
            request=request,
            reason=why,
            unschedulable=state.unschedulable.get(node, False),
            uid=uid,
        )
    )
    state.unschedulable[node] = False
    state.touched_nodes.add(node)
