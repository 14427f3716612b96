package geo

import "strings"

// Device is what a User-Agent says of the viewer's device: the values of
// CloudFront's CloudFront-Is-*-Viewer headers.
//
// As in CloudFront, more than one may be true: a tablet is also Mobile
// (CloudFront sets both for tablets such as the iPad), and a Fire TV stick
// is both SmartTV and Android. Desktop is true exactly when none of Mobile,
// Tablet and SmartTV is: a User-Agent that names no device (curl, a
// crawler, none at all) counts as a desktop.
type Device struct {
	Mobile, Tablet, Desktop, SmartTV bool
	// IOS is an iPhone, iPad or iPod touch; Android, a device that runs
	// Android (phones, tablets, TVs).
	IOS, Android bool
}

// ClassifyDevice reads a User-Agent header value. It matches tokens that
// browsers and device makers put in their User-Agent strings, in this
// order:
//
//   - SmartTV: a TV or TV-attached device or platform ("SmartTV",
//     "SMART-TV", "HbbTV", "Web0S"/"WebOS", "Tizen" with "TV", "NetCast",
//     "BRAVIA", "Roku", "AppleTV", "GoogleTV", "Android TV", "CrKey"
//     (Chromecast), Amazon's Fire TV models ("; AFT…"), game consoles
//     ("PlayStation", "Xbox", "Nintendo"), "; TV" or " TV Safari").
//   - Tablet: "iPad"; Android without "Mobile" (Google's rule for Android
//     browsers: phones send "Mobile", tablets do not); Kindle and Silk;
//     "Tablet"; "PlayBook".
//   - Mobile: any tablet; any other Android device; "Mobile", "iPhone",
//     "iPod", "Windows Phone", "BlackBerry"/"BB10", "Opera Mini".
//   - IOS: "iPhone", "iPad", "iPod". An iPad that asks for desktop sites
//     sends a Macintosh User-Agent and is a desktop here, as it says.
//   - Android: "Android", except from Windows Phone (whose Edge claims
//     Android for compatibility).
//
// It is a small table of tokens rather than a full User-Agent parser
// because those four categories are all CloudFront reports; the parsers
// examined (github.com/medama-io/go-useragent v1.2.5) classify Android
// tablets, Kindle Fire and Fire TV as phones.
//
// It looks at each byte of ua once, matching the tokens that start with
// it, so that it costs about as much for a desktop browser (which matches
// nothing) as for a phone.
func ClassifyDevice(ua string) Device {
	var seen uint32
	for i := 0; i < len(ua); i++ {
		for _, t := range tokensByFirst[ua[i]] {
			if strings.HasPrefix(ua[i:], t.s) {
				seen |= t.marks
			}
		}
	}
	var d Device
	d.IOS = seen&markIOS != 0
	d.Android = seen&markAndroid != 0 && seen&markWindowsPhone == 0
	switch {
	case seen&markTV != 0 || seen&(markTizen|markTVWord) == markTizen|markTVWord:
		d.SmartTV = true
	case seen&markTablet != 0 || d.Android && seen&(markMobileWord|markDalvik) == 0:
		// Dalvik is the HTTP client of Android apps: it says nothing of
		// the screen, so it counts as a phone, the common case.
		d.Tablet, d.Mobile = true, true
	case d.Android || seen&markMobile != 0:
		d.Mobile = true
	default:
		d.Desktop = true
	}
	return d
}

// Marks a token sets when it appears in a User-Agent.
const (
	markTV = 1 << iota
	markTablet
	markMobile
	markMobileWord // "Mobile" itself, for the Android tablet rule
	markIOS
	markAndroid
	markWindowsPhone
	markDalvik
	markTizen
	markTVWord
)

type deviceToken struct {
	s     string
	marks uint32
}

var deviceTokens = []deviceToken{
	{"SmartTV", markTV}, {"SMART-TV", markTV}, {"Smart-TV", markTV}, {"SmartTv", markTV},
	{"HbbTV", markTV}, {"Web0S", markTV}, {"WebOS", markTV}, {"webOS.TV", markTV},
	{"NetCast", markTV}, {"BRAVIA", markTV}, {"Roku", markTV}, {"AppleTV", markTV},
	{"Apple TV", markTV}, {"GoogleTV", markTV}, {"Android TV", markTV}, {"CrKey", markTV},
	{"PlayStation", markTV}, {"Xbox", markTV}, {"Nintendo", markTV}, {"; TV", markTV},
	{" TV Safari", markTV}, {"Opera TV", markTV}, {"VIDAA", markTV}, {"NETTV", markTV},
	{"; AFT", markTV}, {"Tizen", markTizen}, {"TV", markTVWord},

	{"iPad", markTablet | markIOS}, {"Tablet", markTablet}, {"PlayBook", markTablet},
	{"Kindle", markTablet}, {"Silk", markTablet},

	{"Mobile", markMobile | markMobileWord}, {"iPhone", markMobile | markIOS},
	{"iPod", markMobile | markIOS}, {"Windows Phone", markMobile | markWindowsPhone},
	{"BlackBerry", markMobile}, {"BB10", markMobile}, {"Opera Mini", markMobile},

	{"Android", markAndroid}, {"Dalvik", markDalvik},
}

// tokensByFirst indexes deviceTokens by their first byte.
var tokensByFirst = func() (t [256][]deviceToken) {
	for _, tok := range deviceTokens {
		t[tok.s[0]] = append(t[tok.s[0]], tok)
	}
	return t
}()
