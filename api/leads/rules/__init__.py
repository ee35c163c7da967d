"""Lead rules that need no HTTP or database: cleaning, junk rules, scoring, assignment, nurture.

The service and repository translate rows and requests into these values; everything here is
plain functions over frozen dataclasses, so every rule is unit-tested on its own.
"""

from api.leads.rules.assignment import Assignment as Assignment
from api.leads.rules.assignment import AssignParams as AssignParams
from api.leads.rules.assignment import Owner as Owner
from api.leads.rules.assignment import SlaState as SlaState
from api.leads.rules.assignment import assign_many as assign_many
from api.leads.rules.assignment import first_response_due as first_response_due
from api.leads.rules.assignment import sla_state as sla_state
from api.leads.rules.contact import Contact as Contact
from api.leads.rules.contact import normalise_email as normalise_email
from api.leads.rules.contact import normalise_phone as normalise_phone
from api.leads.rules.dedupe import DedupeParams as DedupeParams
from api.leads.rules.dedupe import dedupe_keys as dedupe_keys
from api.leads.rules.dedupe import merge_missing as merge_missing
from api.leads.rules.junk import JunkParams as JunkParams
from api.leads.rules.junk import Rejection as Rejection
from api.leads.rules.junk import clean as clean
from api.leads.rules.model import Channel as Channel
from api.leads.rules.model import LeadFacts as LeadFacts
from api.leads.rules.nurture import NurtureStep as NurtureStep
from api.leads.rules.nurture import nurture_schedule as nurture_schedule
from api.leads.rules.scoring import Score as Score
from api.leads.rules.scoring import ScoreLine as ScoreLine
from api.leads.rules.scoring import ScoreParams as ScoreParams
from api.leads.rules.scoring import score_lead as score_lead
