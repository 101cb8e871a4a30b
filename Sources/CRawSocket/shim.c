// Intentionally empty: CRawSocket is headers and static-inline shims.
