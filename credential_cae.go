package appcred

// CAE (continuous access evaluation): a client that can answer claims
// challenges announces the "CP1" capability in the claims of every token
// request (WithClientCapabilities), and Entra may then issue long-lived tokens
// it can revoke. CAE tokens are cached apart from plain ones: a separate Client
// (memory) whose keys carry the capability (Store). A credential builds its
// CAE Client on the first CAE request (credential.caeClient), never after Close.
