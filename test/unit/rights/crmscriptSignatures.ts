/**
 * CRMScript signatures, transcribed from SuperOffice's CRMScript reference, for the checker in
 * `crmscriptChecker.ts` (issue 10, item 6). Declarations are copied in CRMScript's own syntax:
 * - `String`, `Integer`, `Bool` (complete), `Company`, `Customer` (complete) and the global functions (the subset
 *   below) — SuperOffice's CRMScript type definitions in https://github.com/SuperOffice/language-tools,
 *   packages/langium-crmscript/src/language/builtin/CRMScript.Global/{String,Integer,Bool,Void}.ts and
 *   CRMScript.Native/{Company,Customer}.ts.
 * - `User` — the same type definitions (class User: getValue, hasTicketAccess, isAdministrator, isLoggedIn, load,
 *   loadFromAgentAndKey, save, setValue, toParser) and the CRMScript reference pages
 *   https://docs.superoffice.com/en/automation/crmscript/reference/CRMScript.Native.User.html and
 *   https://docs.superoffice.com/en/automation/crmscript/security/index.html.
 * A global function or class a shipped script needs that is missing here fails the test: transcribe it from the
 * same sources rather than guessing.
 */

/** `String` — CRMScript.Global/String.ts. */
const STRING = `
Integer getLength();
String toLower();
String toUpper();
Bool isLower();
Bool isUpper();
Bool equals(String value);
Bool equalsIgnoreCase(String value);
Bool beginsWith(String substring);
Bool caseBeginsWith(String substring);
Bool endsWith(String substring);
Bool caseEndsWith(String substring);
Integer compare(String value);
Integer caseCompare(String value);
Void append(String value);
Void append(Byte character);
String substitute(String src, String dest);
Integer find(String substring);
Integer findCase(String substring);
Integer findLast(String substring);
String subString(Integer pos, Integer len);
String until(String pattern);
String before(String pattern);
String beforeLast(String pattern);
String after(String pattern);
String afterLast(String pattern);
String[] split(String delimiter);
Bool isAlpha();
Bool isDigit();
Bool isAlphanumeric();
Bool isNull();
Bool isEmpty();
Bool toBool();
Integer toInteger();
Long toLong();
Float toFloat();
Date toDate();
DateTime toDateTime();
Time toTime();
Byte[] toByteArray();
String escape(String chars);
String extractHtmlBody(Bool convertBodyToDiv);
String extractHtmlHead(Bool stripTitle);
Bool isHtmlDocument();
String htmlDecode();
String htmlEncode();
Vector getEmails();
Bool isValidEmail();
String getLine();
String getWord(Integer pos);
Bool isNumber();
String urlDecode();
String urlEncode();
String utf8Decode();
String utf8Encode();
String xmlDecode();
String xmlEncode();
String keepChars(String charsToKeep);
String[] parseCSV(String delimiter);
String parseSOMultiLanguageString(Integer language);
String prettyChop(Integer length);
String quote(String quoteString);
String[] regexp(String pattern);
String stripLeading(String characters);
String stripLeadingAndTrailing(String characters);
String stripTrailing(String characters);
Void wrap(Integer length, Bool ignoreQuote);
`;

/** `Integer` — CRMScript.Global/Integer.ts. */
const INTEGER = `
String toString();
Bool toBool();
Integer abs();
String toHex();
String toHex(Integer value);
Bool isNull();
`;

/** `Bool` — CRMScript.Global/Bool.ts. */
const BOOL = `
Integer toInteger();
String toString();
`;

/** `User` — class User of the CRMScript type definitions; CRMScript.Native.User reference. */
const USER = `
String getValue(String colName);
Bool hasTicketAccess(Integer ticketId, Integer accessLevel);
Bool isAdministrator();
Bool isLoggedIn(Integer origin);
Bool load(Integer p_id);
Bool loadFromAgentAndKey(Integer id, String Key);
Integer save();
Void setValue(String column, String value, String columns);
Void toParser(Parser parser);
`;

/** `Company` — CRMScript.Native/Company.ts. */
const COMPANY = `
Bool checkFieldRights(String field, String fieldRight);
Bool checkTableRights(String tableRight);
Bool findFromDomain(String domain);
NSLocalizedField[][] getFormattedAddress();
String getValue(String colName);
Bool load(Integer id);
Bool loadFromAgentAndKey(Integer agent, String key);
Integer save();
Void setFormattedAddress(NSLocalizedField[][] name);
Void setValue(String colName, String value);
Void toParser(Parser parser);
`;

/** `Customer` — CRMScript.Native/Customer.ts. */
const CUSTOMER = `
Void addEmail(String email, Integer extTable, Integer dbiAgentId);
Void addEmail(String email, Integer externalRank, Integer extTable, Integer dbiAgentId);
Bool checkFieldRights(String field, String fieldRight);
Bool checkTableRights(String tableRight);
Bool findExternallyFromEmail(String email);
Bool findExternallyFromEmail(String email, Integer extTable);
Integer findExternallyFromKey(Integer table, String key);
Integer findFromAgentAndKey(Integer agent, String key);
Bool findFromCellphone(String cellphone);
Bool findFromEmail(String email);
String getValue(String colName);
Bool load(Integer id);
Bool loadFromAgentAndKey(Integer agent, String key);
Void login();
Void logout();
String makeSalutation();
Void removeEmail(String email);
Void removeExternalEmails(Integer p_0, Integer p_1);
Integer save();
Integer save(String gdprSourceKey);
Void setValue(String field, String value);
Void toParser(Parser parser);
`;

/** Global functions — a subset of CRMScript.Global/Void.ts. */
const GLOBALS = `
User getActiveUser();
String getVariable(String name);
Map getVariables();
Void setVariable(String name, String value);
Void print(String s);
Void printLine(String line);
Void printDebug(String debug);
Void log(String msg);
Void logMessage(String message);
Void exitWithMessage(String message);
String getUsername(Integer userId);
Date getCurrentDate();
DateTime getCurrentDateTime();
Integer getScriptId(String idString);
String getGlobalVariable(String name);
Void setGlobalVariable(String name, String value);
`;

export interface Signature {
  readonly returns: string;
  readonly name: string;
  readonly params: readonly string[];
}

/** Parses declarations like `Bool load(Integer p_id);` (parameter names are dropped). */
export function parseDeclarations(text: string): Signature[] {
  const signatures: Signature[] = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter((l) => l !== '')) {
    const match = /^([A-Za-z][A-Za-z0-9]*(?:\[\])*)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)\s*;$/.exec(line);
    if (!match) throw new Error(`not a CRMScript declaration: ${line}`);
    const params = (match[3] ?? '').trim() === ''
      ? []
      : (match[3] ?? '').split(',').map((p) => {
        const type = /^\s*([A-Za-z][A-Za-z0-9]*(?:\[\])*)\s+[A-Za-z_][A-Za-z0-9_]*\s*$/.exec(p)?.[1];
        if (type === undefined) throw new Error(`not a parameter: ${p} in ${line}`);
        return type;
      });
    signatures.push({ returns: match[1] ?? '', name: match[2] ?? '', params });
  }
  return signatures;
}

/** Methods per class. */
export const CRMSCRIPT_CLASSES: ReadonlyMap<string, readonly Signature[]> = new Map([
  ['String', parseDeclarations(STRING)],
  ['Integer', parseDeclarations(INTEGER)],
  ['Bool', parseDeclarations(BOOL)],
  ['User', parseDeclarations(USER)],
  ['Company', parseDeclarations(COMPANY)],
  ['Customer', parseDeclarations(CUSTOMER)],
]);

/** Global functions. */
export const CRMSCRIPT_GLOBALS: readonly Signature[] = parseDeclarations(GLOBALS);

/** Type names a declaration may use (classes with methods above, and other built-in types of the reference). */
export const CRMSCRIPT_TYPES: ReadonlySet<string> = new Set([
  ...CRMSCRIPT_CLASSES.keys(),
  'Void', 'Float', 'Long', 'Byte', 'Date', 'DateTime', 'Time', 'TimeSpan', 'Map', 'Vector', 'Generic', 'Parser',
]);
