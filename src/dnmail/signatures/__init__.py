"""Signed PDF slips: is the signature one that counts (DESIGN §5)?

certs        certificates and names: parsing, loose DN comparison, fingerprints, SignerInfo
pins         SignerPin: who may sign a unit's slips (`[units.X] signers`)
trust        the trust material: root and CRL files, TrustSettings, the validation context
revocation   the configured CRLs asked about every certificate of a chain
checks       one embedded signature checked on its own: SignatureReport
verify       the whole file: verify_pdf_slip decides, with structured problems

Reading the table of the signed revision is readers/pdf_table.py. pyHanko (~0.4 s to
import) and cryptography are imported inside the functions that use them.
"""
