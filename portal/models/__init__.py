"""All models, importable from one place (Alembic and the app load them here)."""
from portal.models.account import Account, AccountStatus
from portal.models.alarm import Alarm, AlarmKind
from portal.models.allocation import AllocationGroup, AllocationMember, AllocationMethod, allocation_sources
from portal.models.approval import Proposal, ProposalKind, ProposalStatus
from portal.models.audit import AuditEntry, OutboxMessage
from portal.models.base import Base, as_utc, utcnow
from portal.models.billing_runs import AllocationLine, AllocationRun, FeeCharge
from portal.models.invoice import InvoiceRequest, InvoiceStatus, InvoiceTitle
from portal.models.ledger import EntryKind, LedgerEntry
from portal.models.meter import (
    CommandStatus,
    ControlCommand,
    ControlMode,
    IntervalReading,
    Meter,
    MeterKind,
    MeterState,
    Supply,
)
from portal.models.notification import (
    Audience,
    Delivery,
    DeliveryStatus,
    LoginCode,
    NotifyPreference,
    NotifyRecipient,
)
from portal.models.office import AccountNote, ImportStatus, Receipt, ReceiptSequence, SiteImport
from portal.models.payment import (
    BillLine,
    Channel,
    NotifyOutcome,
    OrderStatus,
    PaymentNotification,
    PaymentOrder,
    Refund,
    RefundStatus,
)
from portal.models.site import CalendarDay, Gateway, NoTripWindow, Protocol, Site
from portal.models.tariff import Tariff, TariffKind, TariffVersion
from portal.models.usage import DailyUsage
from portal.models.user import ApiToken, BindingRole, Role, StaffUser, TenantBinding, TenantUser, staff_user_sites

__all__ = [
    "Account",
    "AccountNote",
    "AccountStatus",
    "Alarm",
    "AlarmKind",
    "AllocationGroup",
    "AllocationLine",
    "AllocationMember",
    "AllocationMethod",
    "AllocationRun",
    "ApiToken",
    "Audience",
    "AuditEntry",
    "Base",
    "BillLine",
    "BindingRole",
    "CalendarDay",
    "Channel",
    "CommandStatus",
    "ControlCommand",
    "ControlMode",
    "DailyUsage",
    "Delivery",
    "DeliveryStatus",
    "EntryKind",
    "FeeCharge",
    "Gateway",
    "ImportStatus",
    "IntervalReading",
    "InvoiceRequest",
    "InvoiceStatus",
    "InvoiceTitle",
    "LedgerEntry",
    "LoginCode",
    "Meter",
    "MeterKind",
    "MeterState",
    "NoTripWindow",
    "NotifyOutcome",
    "NotifyPreference",
    "NotifyRecipient",
    "OrderStatus",
    "OutboxMessage",
    "PaymentNotification",
    "PaymentOrder",
    "Proposal",
    "ProposalKind",
    "ProposalStatus",
    "Protocol",
    "Receipt",
    "ReceiptSequence",
    "Refund",
    "RefundStatus",
    "Role",
    "Site",
    "SiteImport",
    "StaffUser",
    "Supply",
    "Tariff",
    "TariffKind",
    "TariffVersion",
    "TenantBinding",
    "TenantUser",
    "allocation_sources",
    "as_utc",
    "staff_user_sites",
    "utcnow",
]
