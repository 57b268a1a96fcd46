"""Network identity by DNS for sites that are not on Route 53: RFC 2136 dynamic updates signed with TSIG (dnspython).

    identity.move_app_record   what a provider's `move_identity` calls: the app's record -> its addresses here
    rfc2136.Rfc2136            replace a name's A/AAAA records, wait until every name server answers them
    tsig.load                  the site's key, its secret from the worker's environment (STANDBY_TSIG_<NAME>)
    doctor.checks              `standby doctor` lines: secret present, server authoritative, key accepted
"""
