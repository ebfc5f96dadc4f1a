"""What the office keeps about a shop besides its money: staff notes, and which tenant users see the shop.

Both are the staff account page's (portal.staff.accounts) verbs. A note is plain text of at most NOTE_MAX
characters, signed by its author. A tenant binding (portal.models.TenantBinding) is what lets a tenant user see and
pay for a shop in the tenant pages; revoking it deletes it, and since the tenant pages read a tenant's shops from
the bindings on every request, the tenant's very next request for the shop is refused. Each change is audited; the
verbs only flush, the caller commits.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Account, AccountNote, TenantBinding, TenantUser

#: the longest note, in characters: a phone call's summary, not a document
NOTE_MAX = 2000


class NoteRefused(ValueError):
    """A note that is not kept; `code` is "empty" or "long"."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def add_note(session: Session, account: Account, actor: str, body: str) -> AccountNote:
    """Keep a note on the shop, signed by `actor` (staff:<name>); its text trimmed, never empty or over NOTE_MAX."""
    text = (body or "").strip()
    if not text:
        raise NoteRefused("empty")
    if len(text) > NOTE_MAX:
        raise NoteRefused("long")
    note = AccountNote(account_id=account.id, author=actor, body=text)
    session.add(note)
    session.flush()
    audit(session, actor, "account.note_added", "account", account.id, account.site_id, note_id=note.id,
          length=len(text))
    return note


class BindingMissing(LookupError):
    """The tenant user is not bound to this shop (any more)."""


def revoke_binding(session: Session, account: Account, tenant_user_id: int, actor: str) -> TenantUser:
    """Take the shop away from a tenant user: they no longer see it or pay for it in the tenant pages."""
    binding = session.get(TenantBinding, (tenant_user_id, account.id))
    if binding is None:
        raise BindingMissing(tenant_user_id)
    tenant = session.get(TenantUser, tenant_user_id)
    audit(session, actor, "tenant.binding_revoked", "account", account.id, account.site_id,
          tenant_user_id=tenant.id, tenant=tenant.name, phone=tenant.phone or "", role=binding.role.value,
          since=binding.created_at.isoformat(), wechat=tenant.wechat_openid is not None)
    session.delete(binding)
    session.flush()
    session.expire(tenant, ["accounts"])
    return tenant
