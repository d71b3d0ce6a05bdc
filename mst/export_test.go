package mst

// CommonPrefixLen exposes commonPrefixLen to the external tests.
var CommonPrefixLen = commonPrefixLen

// CBORCIDForTest exposes cborCID.
var CBORCIDForTest = cborCID
