"""Words that tell what kind of thing a sentence holds: places, numbers, dates, and the nouns
that say a question asks for a place or a person. Small and fixed on purpose: enough to tell
"which state" from "which company", not a gazetteer.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PLACES = _words(
    """
alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii
idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan
minnesota mississippi missouri montana nebraska nevada hampshire jersey mexico york carolina
dakota ohio oklahoma oregon pennsylvania rhode tennessee texas utah vermont virginia washington
wisconsin wyoming afghanistan albania algeria andorra angola argentina armenia australia austria
azerbaijan bahamas bahrain bangladesh barbados belarus belgium belize benin bhutan bolivia
bosnia botswana brazil brunei bulgaria burkina burundi cambodia cameroon canada chad chile china
colombia comoros congo croatia cuba cyprus czech czechia denmark djibouti dominica dominican
ecuador egypt salvador eritrea estonia eswatini ethiopia fiji finland france gabon gambia
germany ghana greece grenada guatemala guinea guyana haiti honduras hungary iceland india
indonesia iran iraq ireland israel italy jamaica japan jordan kazakhstan kenya kiribati korea
kosovo kuwait kyrgyzstan laos latvia lebanon lesotho liberia libya liechtenstein lithuania
luxembourg madagascar malawi malaysia maldives mali malta mauritania mauritius micronesia
moldova monaco mongolia montenegro morocco mozambique myanmar namibia nauru nepal netherlands
zealand nicaragua niger nigeria macedonia norway oman pakistan palau palestine panama paraguay
peru philippines poland portugal qatar romania russia rwanda samoa marino saudi senegal serbia
seychelles sierra singapore slovakia slovenia somalia spain lanka sudan suriname sweden
switzerland syria taiwan tajikistan tanzania thailand togo tonga trinidad tunisia turkey
turkmenistan tuvalu uganda ukraine emirates uae britain england scotland wales uk us usa america
uruguay uzbekistan vanuatu vatican venezuela vietnam yemen zambia zimbabwe gaza greenland europe
asia africa antarctica arctic caribbean london paris berlin rome madrid tokyo beijing moscow
kyiv jerusalem delhi mumbai sydney toronto chicago houston boston seattle atlanta miami dallas
denver detroit philadelphia phoenix vegas angeles francisco orleans hollywood manhattan brooklyn
dubai hong kong shanghai istanbul cairo
"""
)
NUMBER_WORDS = _words(
    """
one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
thousand million billion trillion dozen dozens half first second third fourth fifth sixth
seventh eighth ninth tenth hundreds thousands millions billions once twice
"""
)
DATE_WORDS = _words(
    """
january february march april may june july august september october november december monday
tuesday wednesday thursday friday saturday sunday
"""
)
PLACE_NOUNS = _words(
    """
state states country countries city cities nation nations town towns county counties island
islands region continent capital province territory place places location where neighborhood
village border
"""
)
PERSON_NOUNS = _words(
    """
who whom whose person people man woman actor actress singer star player golfer rapper celebrity
president leader politician ceo author director billionaire artist musician comedian host
athlete coach senator judge lawmaker candidate founder king queen prince princess minister
chancellor pope boxer tennis driver footballer quarterback pitcher governor mayor official
musician writer novelist chef designer model influencer
"""
)
