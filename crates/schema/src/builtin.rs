//! The built-in attribute-type and object-class table used until schema files are parsed.
//!
//! Each attribute line: `oid names equality flags`, names separated by `,`; flags are
//! `s` (SINGLE-VALUE), `o` (operational, USAGE other than userApplications), `n`
//! (NO-USER-MODIFICATION). Sources: RFC 4512, 4519, 4524, 2798, 2307, 4523/4530.

/// Built-in attribute types.
pub const ATTRIBUTE_TYPES: &str = "
2.5.4.0 objectClass objectIdentifierMatch -
2.5.4.1 aliasedObjectName,aliasedEntryName distinguishedNameMatch s
2.5.4.3 cn,commonName caseIgnoreMatch -
2.5.4.4 sn,surname caseIgnoreMatch -
2.5.4.5 serialNumber caseIgnoreMatch -
2.5.4.6 c,countryName caseIgnoreMatch s
2.5.4.7 l,localityName caseIgnoreMatch -
2.5.4.8 st,stateOrProvinceName caseIgnoreMatch -
2.5.4.9 street,streetAddress caseIgnoreMatch -
2.5.4.10 o,organizationName caseIgnoreMatch -
2.5.4.11 ou,organizationalUnitName caseIgnoreMatch -
2.5.4.12 title caseIgnoreMatch -
2.5.4.13 description caseIgnoreMatch -
2.5.4.15 businessCategory caseIgnoreMatch -
2.5.4.16 postalAddress caseIgnoreMatch -
2.5.4.17 postalCode caseIgnoreMatch -
2.5.4.18 postOfficeBox caseIgnoreMatch -
2.5.4.19 physicalDeliveryOfficeName caseIgnoreMatch -
2.5.4.20 telephoneNumber telephoneNumberMatch -
2.5.4.23 facsimileTelephoneNumber,fax telephoneNumberMatch -
2.5.4.31 member distinguishedNameMatch -
2.5.4.32 owner distinguishedNameMatch -
2.5.4.33 roleOccupant distinguishedNameMatch -
2.5.4.34 seeAlso distinguishedNameMatch -
2.5.4.35 userPassword octetStringMatch -
2.5.4.36 userCertificate octetStringMatch -
2.5.4.41 name caseIgnoreMatch -
2.5.4.42 givenName,gn caseIgnoreMatch -
2.5.4.43 initials caseIgnoreMatch -
2.5.4.44 generationQualifier caseIgnoreMatch -
2.5.4.45 x500UniqueIdentifier octetStringMatch -
2.5.4.46 dnQualifier caseIgnoreMatch -
2.5.4.49 distinguishedName distinguishedNameMatch -
2.5.4.50 uniqueMember uniqueMemberMatch -
2.5.4.51 houseIdentifier caseIgnoreMatch -
2.5.4.65 pseudonym caseIgnoreMatch -
0.9.2342.19200300.100.1.1 uid,userid caseIgnoreMatch -
0.9.2342.19200300.100.1.3 mail,rfc822Mailbox caseIgnoreIA5Match -
0.9.2342.19200300.100.1.10 manager distinguishedNameMatch -
0.9.2342.19200300.100.1.20 homePhone,homeTelephoneNumber telephoneNumberMatch -
0.9.2342.19200300.100.1.25 dc,domainComponent caseIgnoreIA5Match s
0.9.2342.19200300.100.1.37 associatedDomain caseIgnoreIA5Match -
0.9.2342.19200300.100.1.41 mobile,mobileTelephoneNumber telephoneNumberMatch -
0.9.2342.19200300.100.1.42 pager,pagerTelephoneNumber telephoneNumberMatch -
0.9.2342.19200300.100.1.55 audio octetStringMatch -
0.9.2342.19200300.100.1.60 jpegPhoto octetStringMatch -
0.9.2342.19200300.100.1.39 homePostalAddress caseIgnoreMatch -
0.9.2342.19200300.100.1.9 host caseIgnoreMatch -
0.9.2342.19200300.100.1.8 userClass caseIgnoreMatch -
0.9.2342.19200300.100.1.6 roomNumber caseIgnoreMatch -
0.9.2342.19200300.100.1.7 photo octetStringMatch -
0.9.2342.19200300.100.1.21 secretary distinguishedNameMatch -
2.16.840.1.113730.3.1.1 carLicense caseIgnoreMatch -
2.16.840.1.113730.3.1.2 departmentNumber caseIgnoreMatch -
2.16.840.1.113730.3.1.241 displayName caseIgnoreMatch s
2.16.840.1.113730.3.1.3 employeeNumber caseIgnoreMatch s
2.16.840.1.113730.3.1.4 employeeType caseIgnoreMatch -
2.16.840.1.113730.3.1.39 preferredLanguage caseIgnoreMatch s
2.16.840.1.113730.3.1.40 userSMIMECertificate octetStringMatch -
2.16.840.1.113730.3.1.216 userPKCS12 octetStringMatch -
1.3.6.1.1.1.1.0 uidNumber integerMatch s
1.3.6.1.1.1.1.1 gidNumber integerMatch s
1.3.6.1.1.1.1.2 gecos caseIgnoreIA5Match s
1.3.6.1.1.1.1.3 homeDirectory caseExactIA5Match s
1.3.6.1.1.1.1.4 loginShell caseExactIA5Match s
1.3.6.1.1.1.1.5 shadowLastChange integerMatch s
1.3.6.1.1.1.1.6 shadowMin integerMatch s
1.3.6.1.1.1.1.7 shadowMax integerMatch s
1.3.6.1.1.1.1.8 shadowWarning integerMatch s
1.3.6.1.1.1.1.9 shadowInactive integerMatch s
1.3.6.1.1.1.1.10 shadowExpire integerMatch s
1.3.6.1.1.1.1.11 shadowFlag integerMatch s
1.3.6.1.1.1.1.12 memberUid caseExactIA5Match -
1.3.6.1.1.1.1.13 memberNisNetgroup caseExactIA5Match -
1.3.6.1.1.1.1.14 nisNetgroupTriple caseIgnoreIA5Match -
1.3.6.1.1.1.1.19 ipHostNumber caseIgnoreIA5Match -
1.3.6.1.1.1.1.20 ipNetworkNumber caseIgnoreIA5Match s
1.3.6.1.1.1.1.21 ipNetmaskNumber caseIgnoreIA5Match s
1.3.6.1.1.1.1.22 macAddress caseIgnoreIA5Match -
1.3.6.1.1.1.1.26 nisMapName caseIgnoreMatch -
1.3.6.1.1.1.1.27 nisMapEntry caseExactIA5Match s
1.3.6.1.4.1.1466.101.120.5 namingContexts distinguishedNameMatch o
1.3.6.1.4.1.1466.101.120.6 altServer caseIgnoreIA5Match o
1.3.6.1.4.1.1466.101.120.7 supportedExtension objectIdentifierMatch o
1.3.6.1.4.1.1466.101.120.13 supportedControl objectIdentifierMatch o
1.3.6.1.4.1.1466.101.120.14 supportedSASLMechanisms caseIgnoreMatch o
1.3.6.1.4.1.1466.101.120.15 supportedLDAPVersion integerMatch o
1.3.6.1.4.1.4203.1.3.5 supportedFeatures objectIdentifierMatch o
1.3.6.1.1.4 vendorName caseExactIA5Match so
1.3.6.1.1.5 vendorVersion caseExactIA5Match so
2.5.18.1 createTimestamp generalizedTimeMatch son
2.5.18.2 modifyTimestamp generalizedTimeMatch son
2.5.18.3 creatorsName distinguishedNameMatch son
2.5.18.4 modifiersName distinguishedNameMatch son
2.5.18.10 subschemaSubentry distinguishedNameMatch son
2.5.21.9 structuralObjectClass objectIdentifierMatch son
1.3.6.1.1.16.4 entryUUID octetStringMatch son
1.3.6.1.1.20 entryDN distinguishedNameMatch son
2.5.18.9 hasSubordinates booleanMatch son
1.2.840.113556.1.2.102 memberOf distinguishedNameMatch o
1.3.6.1.4.1.453.16.2.103 numSubordinates integerMatch son
1.3.6.1.4.1.1466.101.120.16 ldapSyntaxes objectIdentifierMatch o
2.5.21.5 attributeTypes objectIdentifierMatch o
2.5.21.6 objectClasses objectIdentifierMatch o
2.5.21.4 matchingRules objectIdentifierMatch o
2.5.21.8 matchingRuleUse objectIdentifierMatch o
";

/// Built-in object-class names (lower-cased on load).
pub const OBJECT_CLASSES: &str = "
top alias country locality organization organizationalUnit person organizationalPerson
organizationalRole groupOfNames groupOfUniqueNames residentialPerson applicationProcess
device dcObject uidObject extensibleObject subschema inetOrgPerson domain account
document room documentSeries friendlyCountry simpleSecurityObject domainRelatedObject
RFC822localPart dNSDomain pilotPerson newPilotPerson pilotOrganization posixAccount
shadowAccount posixGroup ipService ipProtocol oncRpc ipHost ipNetwork nisNetgroup nisMap
nisObject ieee802Device bootableDevice OpenLDAProotDSE groupOfURLs labeledURIObject
";
