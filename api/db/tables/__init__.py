"""Every table, one module per domain; importing this package registers them all on ``Base``."""

from api.db.tables.auth import ApiKeyRow as ApiKeyRow
from api.db.tables.dispatch import AssignmentRow as AssignmentRow
from api.db.tables.dispatch import DispatchPlanRow as DispatchPlanRow
from api.db.tables.dispatch import DispatchRunRow as DispatchRunRow
from api.db.tables.leads import LeadNurtureStepRow as LeadNurtureStepRow
from api.db.tables.leads import LeadOwnerRow as LeadOwnerRow
from api.db.tables.leads import LeadRow as LeadRow
from api.db.tables.leads import LeadTouchRow as LeadTouchRow
from api.db.tables.regions import RegionRow as RegionRow
from api.db.tables.settlement import AdjustmentRequestRow as AdjustmentRequestRow
from api.db.tables.settlement import LedgerEntryRow as LedgerEntryRow
from api.db.tables.settlement import RateCardVersionRow as RateCardVersionRow
from api.db.tables.settlement import SettlementRow as SettlementRow
from api.db.tables.technicians import TechnicianLocationRow as TechnicianLocationRow
from api.db.tables.technicians import TechnicianRow as TechnicianRow
from api.db.tables.technicians import TechnicianShiftRow as TechnicianShiftRow
from api.db.tables.tickets import CustomerRow as CustomerRow
from api.db.tables.tickets import IdempotencyKeyRow as IdempotencyKeyRow
from api.db.tables.tickets import TicketRow as TicketRow
from api.db.tables.tickets import TicketSignatureRow as TicketSignatureRow
from api.db.tables.tickets import TicketStatusChangeRow as TicketStatusChangeRow
from api.db.tables.webhooks import WebhookAttemptRow as WebhookAttemptRow
from api.db.tables.webhooks import WebhookCursorRow as WebhookCursorRow
from api.db.tables.webhooks import WebhookDeliveryRow as WebhookDeliveryRow
from api.db.tables.webhooks import WebhookSubscriptionRow as WebhookSubscriptionRow
