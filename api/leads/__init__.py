"""Lead logic that needs no HTTP or database: cleaning, junk rules, scoring, assignment, nurture.

The routes and repositories translate rows and requests into these values; everything here is
plain functions over frozen dataclasses, so every rule is unit-tested on its own.
"""

from api.leads.assignment import Assignment as Assignment
from api.leads.assignment import AssignParams as AssignParams
from api.leads.assignment import Owner as Owner
from api.leads.assignment import SlaState as SlaState
from api.leads.assignment import assign_many as assign_many
from api.leads.assignment import first_response_due as first_response_due
from api.leads.assignment import sla_state as sla_state
from api.leads.contact import Contact as Contact
from api.leads.contact import normalise_email as normalise_email
from api.leads.contact import normalise_phone as normalise_phone
from api.leads.dedupe import DedupeParams as DedupeParams
from api.leads.dedupe import dedupe_keys as dedupe_keys
from api.leads.dedupe import merge_missing as merge_missing
from api.leads.junk import JunkParams as JunkParams
from api.leads.junk import Rejection as Rejection
from api.leads.junk import clean as clean
from api.leads.model import Channel as Channel
from api.leads.model import LeadFacts as LeadFacts
from api.leads.nurture import NurtureStep as NurtureStep
from api.leads.nurture import nurture_schedule as nurture_schedule
from api.leads.scoring import Score as Score
from api.leads.scoring import ScoreLine as ScoreLine
from api.leads.scoring import ScoreParams as ScoreParams
from api.leads.scoring import score_lead as score_lead
