"""The schemas this connector serves, as data: RFC 7643 core User and Group, the Enterprise
User extension, and the 8x8 extension (whose `site` is immutable after creation)."""

from __future__ import annotations

from .schema import (
    ALWAYS,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    IMMUTABLE,
    READ_ONLY,
    REFERENCE,
    REQUEST,
    Attribute,
    ResourceType,
    Schema,
)

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EIGHT_BY_EIGHT_URN = "urn:ietf:params:scim:schemas:extension:8x8:1.1:User"


def _multi(
    name: str,
    description: str,
    *,
    value_type: str = "string",
    types: tuple[str, ...] = ("work", "home", "other"),
    extra: tuple[Attribute, ...] = (),
    reference_types: tuple[str, ...] = (),
    mutability: str = "readWrite",
) -> Attribute:
    """The usual multi-valued complex shape: value, display, type, primary (RFC 7643 §2.4)."""
    subs: list[Attribute] = [
        Attribute(
            "value",
            type=value_type,
            description=f"The {name} value.",
            reference_types=reference_types,
            mutability=mutability,
        ),
        Attribute("display", description="A human-readable name, primarily for display.",
                  mutability=mutability),
        Attribute("type", description="A label indicating the attribute's function.",
                  canonical_values=types, mutability=mutability),
        Attribute("primary", type=BOOLEAN, description="The primary or preferred value.",
                  mutability=mutability),
        *extra,
    ]
    return Attribute(
        name, type=COMPLEX, multi_valued=True, description=description,
        sub_attributes=tuple(subs), mutability=mutability,
    )


ID = Attribute(
    "id", case_exact=True, mutability=READ_ONLY, returned=ALWAYS, uniqueness="server",
    advertised=False,
    description="Unique identifier for the resource, assigned by the service provider.",
)
EXTERNAL_ID = Attribute(
    "externalId", case_exact=True,
    description="An identifier for the resource as defined by the provisioning client.",
)
META = Attribute(
    "meta", type=COMPLEX, mutability=READ_ONLY, description="Resource metadata.", advertised=False,
    sub_attributes=(
        Attribute("resourceType", case_exact=True, mutability=READ_ONLY,
                  description="The name of the resource type of the resource."),
        Attribute("created", type=DATETIME, mutability=READ_ONLY,
                  description="When the resource was added to the service provider."),
        Attribute("lastModified", type=DATETIME, mutability=READ_ONLY,
                  description="When the resource was last updated."),
        Attribute("location", type=REFERENCE, case_exact=True, mutability=READ_ONLY,
                  reference_types=("uri",), description="The URI of the resource."),
        Attribute("version", case_exact=True, mutability=READ_ONLY,
                  description="The version (ETag) of the resource."),
    ),
)

_ADDRESS_SUBS = (
    Attribute("formatted", description="The full mailing address, formatted for display."),
    Attribute("streetAddress", description="The full street address component."),
    Attribute("locality", description="The city or locality component."),
    Attribute("region", description="The state or region component."),
    Attribute("postalCode", description="The zip code or postal code component."),
    Attribute("country", description="The country name component."),
    Attribute("type", description="A label indicating the attribute's function.",
              canonical_values=("work", "home", "other")),
    Attribute("primary", type=BOOLEAN, description="The primary or preferred address."),
)

USER_SCHEMA = Schema(
    id=USER_URN,
    name="User",
    description="User Account",
    attributes=(
        ID,
        EXTERNAL_ID,
        META,
        Attribute("userName", required=True, uniqueness="server",
                  description="Unique identifier for the User, used to authenticate. REQUIRED."),
        Attribute("name", type=COMPLEX, description="The components of the user's real name.",
                  sub_attributes=(
                      Attribute("formatted", description="The full name, formatted for display."),
                      Attribute("familyName", description="The family name (last name)."),
                      Attribute("givenName", description="The given name (first name)."),
                      Attribute("middleName", description="The middle name(s)."),
                      Attribute("honorificPrefix", description="The honorific prefix(es)."),
                      Attribute("honorificSuffix", description="The honorific suffix(es)."),
                  )),
        Attribute("displayName", description="The name of the User, suitable for display."),
        Attribute("nickName", description="The casual way to address the user."),
        Attribute("profileUrl", type=REFERENCE, reference_types=("external",),
                  description="A fully qualified URL to the User's online profile."),
        Attribute("title", description="The user's title, such as \"Vice President\"."),
        Attribute("userType", description="The relationship between the organization and user."),
        Attribute("preferredLanguage",
                  description="The User's preferred written or spoken language (e.g. en-US)."),
        Attribute("locale", description="The User's default location (e.g. en-US)."),
        Attribute("timezone", description="The User's time zone in IANA format."),
        Attribute("active", type=BOOLEAN, description="The User's administrative status."),
        # No `password`: a provisioning connector has no use for one and must not store it.
        # Without a definition, a password sent by a client is dropped as unknown.
        _multi("emails", "Email addresses for the user."),
        _multi("phoneNumbers", "Phone numbers for the User, stored exactly as sent.",
               types=("work", "home", "mobile", "fax", "pager", "other")),
        _multi("ims", "Instant messaging addresses for the User.",
               types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")),
        _multi("photos", "URLs of photos of the User.", value_type=REFERENCE,
               types=("photo", "thumbnail"), reference_types=("external",)),
        Attribute("addresses", type=COMPLEX, multi_valued=True,
                  description="A physical mailing address for this User.",
                  sub_attributes=_ADDRESS_SUBS),
        Attribute(
            "groups", type=COMPLEX, multi_valued=True, mutability=READ_ONLY, returned=REQUEST,
            description="Groups the user belongs to; read-only, returned only when requested.",
            sub_attributes=(
                Attribute("value", mutability=READ_ONLY, description="The group's id."),
                Attribute("$ref", type=REFERENCE, mutability=READ_ONLY,
                          reference_types=("Group",), description="The URI of the group."),
                Attribute("display", mutability=READ_ONLY, description="The group's name."),
                Attribute("type", mutability=READ_ONLY, canonical_values=("direct", "indirect"),
                          description="direct or indirect membership."),
            ),
        ),
        _multi("entitlements", "A list of entitlements for the User."),
        _multi("roles", "A list of roles for the User.", types=()),
        _multi("x509Certificates", "A list of certificates issued to the User.",
               value_type="binary", types=()),
    ),
)

ENTERPRISE_SCHEMA = Schema(
    id=ENTERPRISE_URN,
    name="EnterpriseUser",
    description="Enterprise User",
    attributes=(
        Attribute("employeeNumber", description="Identifier assigned to a person by the org."),
        Attribute("costCenter", description="Name of a cost center."),
        Attribute("organization", description="Name of an organization."),
        Attribute("division", description="Name of a division."),
        Attribute("department", description="Name of a department."),
        Attribute("manager", type=COMPLEX, description="The User's manager.",
                  sub_attributes=(
                      Attribute("value", description="The id of the manager's User resource."),
                      Attribute("$ref", type=REFERENCE, reference_types=("User",),
                                description="The URI of the manager's User resource."),
                      Attribute("displayName", mutability=READ_ONLY,
                                description="The manager's displayName."),
                  )),
    ),
)

EIGHT_BY_EIGHT_SCHEMA = Schema(
    id=EIGHT_BY_EIGHT_URN,
    name="8x8User",
    description="8x8 User extension",
    attributes=(
        Attribute("site", mutability=IMMUTABLE,
                  description="The 8x8 site of the user. Set at creation; cannot be changed. "
                              "Map it in Entra with 'Apply this mapping: Only during object "
                              "creation'."),
    ),
)

GROUP_SCHEMA = Schema(
    id=GROUP_URN,
    name="Group",
    description="Group",
    attributes=(
        ID,
        EXTERNAL_ID,
        META,
        Attribute("displayName", required=True, uniqueness="server",
                  description="A human-readable name for the Group; unique. REQUIRED."),
        Attribute("members", type=COMPLEX, multi_valued=True,
                  description="A list of members of the Group.",
                  sub_attributes=(
                      Attribute("value", case_exact=True, mutability=IMMUTABLE,
                                description="The id of the member resource."),
                      Attribute("$ref", type=REFERENCE, mutability=IMMUTABLE,
                                reference_types=("User", "Group"),
                                description="The URI of the member resource."),
                      Attribute("display", mutability=READ_ONLY,
                                description="A human-readable name of the member."),
                      Attribute("type", mutability=IMMUTABLE, canonical_values=("User", "Group"),
                                description="The type of the member resource."),
                  )),
    ),
)

USER = ResourceType(
    name="User",
    endpoint="/Users",
    description="User Account",
    schema=USER_SCHEMA,
    extensions=((ENTERPRISE_SCHEMA, False), (EIGHT_BY_EIGHT_SCHEMA, False)),
)

GROUP = ResourceType(name="Group", endpoint="/Groups", description="Group", schema=GROUP_SCHEMA)

RESOURCE_TYPES: tuple[ResourceType, ...] = (USER, GROUP)
ALL_SCHEMAS: tuple[Schema, ...] = (USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA,
                                   EIGHT_BY_EIGHT_SCHEMA)
