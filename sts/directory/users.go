package directory

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// User is a user of a tenant, for delegated (user) tokens: the password and
// refresh-token grants and on-behalf-of. Like a secret, the password is kept
// as a random salt and SHA-256(salt || password); Password itself is only
// input (a Config, AddUser) and is never stored or shown.
type User struct {
	// UPN is the user principal name, such as "alice@contoso.test" (the
	// "upn" / "preferred_username" of the user's tokens).
	UPN string `json:"user_principal_name"`
	// DisplayName is the user's name (the "name" claim).
	DisplayName string `json:"display_name,omitempty"`
	// ObjectID is the user's object id (the "oid" claim), a GUID; generated
	// when absent and stable afterwards.
	ObjectID string `json:"object_id,omitempty"`
	// PasswordSalt and PasswordHash are the stored password (at rest only).
	PasswordSalt string `json:"password_salt,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`
	// Password is the password value: input only (a Config, AddUser).
	Password string `json:"password,omitempty"`
}

// String never shows the password.
func (u User) String() string { return "user " + u.UPN + " (" + u.ObjectID + ")" }

// GoString (the %#v verb) never shows the password or its hash.
func (u User) GoString() string {
	return fmt.Sprintf("directory.User{UPN:%q, DisplayName:%q, ObjectID:%q}", u.UPN, u.DisplayName, u.ObjectID)
}

// LogValue makes log/slog record the name and object id only.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("upn", u.UPN), slog.String("object_id", u.ObjectID))
}

// view is the user as admin results show it: no password, salt or hash.
func (u *User) view() User { return User{UPN: u.UPN, DisplayName: u.DisplayName, ObjectID: u.ObjectID} }

// userEntry is a user with the decoded password hash.
type userEntry struct {
	user *User
	salt []byte
	hash [32]byte
}

// setPassword stores value hashed in u and clears u.Password.
func (u *User) setPassword(value string) error {
	if value == "" {
		return fmt.Errorf("user %s: the password is empty", u.UPN)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	sum := hashSecret(salt, value)
	u.PasswordSalt = base64.StdEncoding.EncodeToString(salt)
	u.PasswordHash = base64.StdEncoding.EncodeToString(sum[:])
	u.Password = ""
	return nil
}

func validUPN(upn string) error {
	if upn == "" || len(upn) > 256 || !strings.Contains(upn, "@") || strings.ContainsAny(upn, " \t\r\n/\\\"'") {
		return fmt.Errorf("user principal name %q must look like name@domain, without spaces or quotes", upn)
	}
	return nil
}

// indexUsers validates t's users and delegated permissions and indexes them.
func (ti *TenantIndex) indexUsers(t *Tenant) error {
	ti.users = map[string]*userEntry{}
	for _, u := range t.Users {
		if err := validUPN(u.UPN); err != nil {
			return fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		if _, err := uuid.Parse(u.ObjectID); err != nil {
			return fmt.Errorf("tenant %s, user %s: object id %q must be a GUID", t.ID, u.UPN, u.ObjectID)
		}
		salt, err1 := base64.StdEncoding.DecodeString(u.PasswordSalt)
		h, err2 := base64.StdEncoding.DecodeString(u.PasswordHash)
		if err1 != nil || err2 != nil || len(h) != sha256.Size || u.Password != "" {
			return fmt.Errorf("tenant %s, user %s: the password must be stored as a salt and hash", t.ID, u.UPN)
		}
		e := &userEntry{user: u, salt: salt, hash: [32]byte(h)}
		for _, k := range []string{strings.ToLower(u.UPN), strings.ToLower(u.ObjectID)} {
			if _, dup := ti.users[k]; dup {
				return fmt.Errorf("tenant %s: user name or object id %q is used twice", t.ID, k)
			}
			ti.users[k] = e
		}
	}
	for _, a := range t.Apps {
		if err := ti.resolveDelegated(t, a); err != nil {
			return err
		}
	}
	return nil
}

// resolveDelegated turns a's delegated_permissions into scopes by resource.
func (ti *TenantIndex) resolveDelegated(t *Tenant, a *App) error {
	for _, s := range a.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n/") {
			return fmt.Errorf("tenant %s, app %s: scope %q is empty or has spaces or slashes", t.ID, a.ClientID, s)
		}
	}
	k := ti.keys[a]
	k.delegated = map[*App][]string{}
	for api, scopes := range a.DelegatedPermissions {
		res := ti.resources[resourceKey(api)]
		if res == nil {
			return fmt.Errorf("tenant %s, app %s: delegated_permissions names %q, which no app in the tenant exposes", t.ID, a.ClientID, api)
		}
		for _, s := range scopes {
			i := slices.IndexFunc(res.Scopes, func(x string) bool { return strings.EqualFold(x, s) })
			if i < 0 {
				return fmt.Errorf("tenant %s, app %s: scope %q is not a delegated scope of %q (scopes: %s)", t.ID, a.ClientID, s, api, strings.Join(res.Scopes, ", "))
			}
			if !slices.Contains(k.delegated[res], res.Scopes[i]) {
				k.delegated[res] = append(k.delegated[res], res.Scopes[i])
			}
		}
	}
	return nil
}

// User finds a user by user principal name or object id (any case), or returns nil.
func (t *TenantIndex) User(nameOrID string) *User {
	if e := t.users[strings.ToLower(nameOrID)]; e != nil {
		return e.user
	}
	return nil
}

// CheckPassword returns the user named upn when password is theirs, else
// nil. The hash is computed (and compared in constant time) for unknown
// users too, so the answer's timing does not tell whether the user exists.
func (t *TenantIndex) CheckPassword(upn, password string) *User {
	e := t.users[strings.ToLower(upn)]
	if e == nil || !strings.EqualFold(e.user.UPN, upn) {
		var zero [16]byte
		_ = hashSecret(zero[:], password)
		return nil
	}
	sum := hashSecret(e.salt, password)
	if subtle.ConstantTimeCompare(sum[:], e.hash[:]) != 1 {
		return nil
	}
	return e.user
}

// DelegatedScopes are the delegated scopes client is consented to on
// resource, as the resource declares them.
func (t *TenantIndex) DelegatedScopes(client, resource *App) []string {
	return t.keys[client].delegated[resource]
}

// mergeUsers creates or updates the users declared in a Config: matched by
// user principal name; a declared password replaces the stored one.
func mergeUsers(t *Tenant, users []*User) error {
	for _, in := range users {
		u := t.user(in.UPN)
		if u == nil {
			if err := validUPN(in.UPN); err != nil {
				return err
			}
			if in.Password == "" {
				return fmt.Errorf("user %s: a new user needs a password", in.UPN)
			}
			u = &User{UPN: in.UPN, ObjectID: strings.ToLower(in.ObjectID)}
			if u.ObjectID == "" {
				u.ObjectID = uuid.NewString()
			}
			t.Users = append(t.Users, u)
		}
		u.DisplayName = in.DisplayName
		if in.Password != "" {
			if err := u.setPassword(in.Password); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Tenant) user(nameOrID string) *User {
	for _, u := range t.Users {
		if strings.EqualFold(u.UPN, nameOrID) || strings.EqualFold(u.ObjectID, nameOrID) {
			return u
		}
	}
	return nil
}

// AddUser adds a user to tenant (id or domain; "" means the only tenant).
// u.Password is required and stored hashed; an empty ObjectID gets a new
// random GUID. It returns the user as ListUsers shows it.
func (s *State) AddUser(tenant string, u User) (User, error) {
	if err := validUPN(u.UPN); err != nil {
		return User{}, err
	}
	if u.Password == "" {
		return User{}, fmt.Errorf("user %s: the password is empty", u.UPN)
	}
	var out User
	err := s.update(func(d *dirFile) error {
		t, err := pickTenant(d, tenant)
		if err != nil {
			return err
		}
		if t.user(u.UPN) != nil || (u.ObjectID != "" && t.user(u.ObjectID) != nil) {
			return fmt.Errorf("user %s already exists in tenant %s", u.UPN, t.ID)
		}
		if err := mergeUsers(t, []*User{&u}); err != nil {
			return err
		}
		out = t.user(u.UPN).view()
		return nil
	})
	return out, err
}

// ListUsers returns the users of tenant ("" means the only tenant), without passwords.
func (s *State) ListUsers(tenant string) ([]User, error) {
	d, _, err := readDirFile(filepath.Join(s.dir, FileName))
	if err != nil {
		return nil, err
	}
	t, err := pickTenant(d, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(t.Users))
	for _, u := range t.Users {
		out = append(out, u.view())
	}
	return out, nil
}

// RemoveUser removes a user (by user principal name or object id); the
// user's tokens are refused from then on and refresh tokens stop working.
func (s *State) RemoveUser(tenant, nameOrID string) error {
	return s.update(func(d *dirFile) error {
		t, err := pickTenant(d, tenant)
		if err != nil {
			return err
		}
		u := t.user(nameOrID)
		if u == nil {
			return fmt.Errorf("user %q not found in tenant %s", nameOrID, t.ID)
		}
		t.Users = slices.DeleteFunc(t.Users, func(x *User) bool { return x == u })
		return nil
	})
}

// Consent grants an app delegated scopes on an API (identifier URI or client
// id), as an admin consent does; the scopes must be declared by the API.
// With no scopes it revokes the app's consent for that API.
func (s *State) Consent(tenant, clientID, api string, scopes ...string) error {
	if strings.TrimSpace(api) == "" {
		return errors.New("consent: the api (identifier URI or client id) is empty")
	}
	return s.update(func(d *dirFile) error {
		a, err := pickApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		if len(scopes) == 0 {
			delete(a.DelegatedPermissions, api)
			return nil
		}
		if a.DelegatedPermissions == nil {
			a.DelegatedPermissions = map[string][]string{}
		}
		cur := a.DelegatedPermissions[api]
		for _, sc := range scopes {
			if !slices.ContainsFunc(cur, func(x string) bool { return strings.EqualFold(x, sc) }) {
				cur = append(cur, sc)
			}
		}
		a.DelegatedPermissions[api] = cur
		return nil
	})
}
